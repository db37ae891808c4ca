"""A/B subject tests: who gets which subject line, when the winner is picked, and the results.

The variants are the email's ``subjects`` (``email_files.SubjectTest``). Who gets which is decided
by a hash of the contact id and the test's key, never by chance or by arrival order, so a sender that
crashed and renders the row again gives the same subject; the send rows keep the delivery's
exactly-once states unchanged.

- **A broadcast**: when it is queued, its recipients are ordered by that hash; the first
  ``test_share`` of them (at least one per variant) are the test, the variants dealt in turn so
  the groups are even. They go at once. The rest wait ``pick_winner_after`` (their
  ``next_attempt_at``); the first sender to render one of them picks the winner and every one of
  them gets it.
- **A sequence step**: people reach a step one by one, so nobody is held back. While the test
  runs, each contact reaching the step is in the test if their hash falls within ``test_share``
  (and then gets a variant by hash); the others get the first subject, as without a test. The
  test starts with its first test send; after ``pick_winner_after`` the first render picks the
  winner, and from then on everyone reaching the step gets it. Editing the subject lines starts
  a new test (the key holds a digest of them).

The winner: the highest rate of unique clicks (emails clicked at least once) per email
delivered, counting the test's sends only; a tie (no clicks at all, say) goes to the first
variant. It is written once, with a compare-and-set on ``winner IS NULL``: two senders picking
at once agree on one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import distinct, func, select, update
from sqlalchemy.orm import Session

from cabos.nurture.email_files import SubjectTest
from cabos.nurture.models import SENT, BroadcastSend, OutboxMessage, SubjectTestRun
from cabos.nurture.scheduler import insert_ignoring_duplicates
from cabos.tracking.models import Event


def broadcast_key(slug: str) -> str:
    return f"broadcast:{slug}"[:250]


def step_key(sequence: str, step: str, email: str, test: SubjectTest) -> str:
    return f"step:{sequence}/{step}/{email}/{test.digest}"[:250]


def bucket(contact_id: int, key: str, salt: str = "") -> float:
    """Where a contact falls in [0, 1) for this test: the same every time it is asked."""
    digest = hashlib.sha256(f"{salt}{contact_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def split(contact_ids: Sequence[int], key: str, test: SubjectTest) -> dict[int, int]:
    """A broadcast's test group: contact id → variant, for the first ``share`` of them in hash order."""
    n = len(test.subjects)
    order = sorted(contact_ids, key=lambda i: (bucket(i, key), i))
    size = min(len(order), max(n, round(len(order) * test.share)))
    return {contact_id: i % n for i, contact_id in enumerate(order[:size])}


@dataclass
class Variant:
    subject: str
    delivered: int = 0  # test sends delivered
    clicked: int = 0  # of those, clicked at least once

    @property
    def rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None


@dataclass
class Results:
    """A test's numbers so far (its sends only), and its winner once picked."""

    key: str
    test: SubjectTest
    variants: list[Variant] = field(default_factory=list)
    started_at: datetime | None = None
    winner: int | None = None
    decided_at: datetime | None = None

    @property
    def leader(self) -> int:
        """The variant that would win now: best rate, ties to the first."""
        rates = [v.rate or 0.0 for v in self.variants]
        return max(range(len(rates)), key=lambda i: (rates[i], -i)) if rates else 0

    @property
    def picks_at(self) -> datetime | None:
        return self.started_at + self.test.wait if self.started_at and self.winner is None else None


def _counts(session: Session, results: Results, delivered_query: object, clicks_query: object) -> Results:
    for variant, n in session.execute(delivered_query):  # type: ignore[call-overload]
        if variant is not None and 0 <= variant < len(results.variants):
            results.variants[variant].delivered = n
    for variant, n in session.execute(clicks_query):  # type: ignore[call-overload]
        if variant is not None and 0 <= variant < len(results.variants):
            results.variants[variant].clicked = n
    run = session.get(SubjectTestRun, results.key)
    if run is not None:
        results.started_at, results.winner, results.decided_at = run.started_at, run.winner, run.decided_at
    return results


def _click_variants(key: str) -> tuple[object, object]:
    variant = Event.data["variant"].as_integer()
    return variant, (Event.type == "email_click") & (Event.data["test"].as_string() == key)


def broadcast_results(session: Session, slug: str, test: SubjectTest) -> Results:
    key = broadcast_key(slug)
    results = Results(key, test, [Variant(s) for s in test.subjects])
    delivered = (select(BroadcastSend.variant, func.count()).where(
        BroadcastSend.broadcast == slug, BroadcastSend.tested.is_(True), BroadcastSend.status == SENT)
        .group_by(BroadcastSend.variant))
    variant, where = _click_variants(key)
    clicks = (select(variant, func.count(distinct(Event.data["send"].as_integer()))).where(where)  # type: ignore[arg-type]
              .group_by(variant))
    return _counts(session, results, delivered, clicks)


def step_results(session: Session, sequence: str, step: str, email: str, test: SubjectTest) -> Results:
    key = step_key(sequence, step, email, test)
    results = Results(key, test, [Variant(s) for s in test.subjects])
    variant_of = OutboxMessage.data["subject"].as_integer()
    delivered = (select(variant_of, func.count()).where(
        OutboxMessage.sequence == sequence, OutboxMessage.step == step, OutboxMessage.status == SENT,
        OutboxMessage.data["test"].as_string() == key).group_by(variant_of))
    variant, where = _click_variants(key)
    clicks = (select(variant, func.count(distinct(Event.data["outbox"].as_integer()))).where(where)  # type: ignore[arg-type]
              .group_by(variant))
    return _counts(session, results, delivered, clicks)


def pick(session: Session, results: Results, now: datetime) -> int:
    """The winner, written once: whoever writes it first decides; everyone reads the same."""
    session.execute(update(SubjectTestRun).where(SubjectTestRun.key == results.key, SubjectTestRun.winner.is_(None))
                    .values(winner=results.leader, decided_at=now))
    winner = session.scalar(select(SubjectTestRun.winner).where(SubjectTestRun.key == results.key)
                            .execution_options(populate_existing=True))
    return results.leader if winner is None else winner


def start(session: Session, key: str, now: datetime) -> None:
    """The test's row (its start), unless it exists already."""
    insert_ignoring_duplicates(session, SubjectTestRun, [{"key": key, "started_at": now, "winner": None,
                                                          "decided_at": None}])


def broadcast_winner(session: Session, slug: str, test: SubjectTest, now: datetime) -> int:
    """The subject for the rest of a broadcast (picked now if nobody did)."""
    run = session.get(SubjectTestRun, broadcast_key(slug))
    if run is not None and run.winner is not None:
        return run.winner
    if run is None:
        start(session, broadcast_key(slug), now)
    return pick(session, broadcast_results(session, slug, test), now)


def step_variant(session: Session, sequence: str, step: str, email: str, test: SubjectTest, contact_id: int,
                 now: datetime) -> tuple[int, str | None]:
    """The subject a contact reaching a step gets, and the test's key if this send is one of the test's."""
    key = step_key(sequence, step, email, test)
    run = session.get(SubjectTestRun, key)
    if run is not None and run.winner is not None:
        return run.winner, None
    if run is not None and now >= run.started_at + test.wait:
        return pick(session, step_results(session, sequence, step, email, test), now), None
    if bucket(contact_id, key) >= test.share:
        return 0, None  # not in the test: the first subject, as without one
    if run is None:
        start(session, key, now)
    return int(bucket(contact_id, key, "variant:") * len(test.subjects)), key
