"""Broadcasts: one Markdown email to everyone a segment holds, each contact exactly once.

Queueing writes a ``broadcasts`` row (its primary key is the broadcast's slug: a second run, a second
worker or a second click finds it and stops) and one ``broadcast_sends`` row per recipient (unique per
broadcast and contact), in one transaction. The rows are then delivered by the nurture outbox's
``Deliverer``: the same claims (``FOR UPDATE SKIP LOCKED``), retries, permanent failures and sends in
doubt as sequence emails and guide links. Just before each send, in the transaction that marks it
sending, the contact is checked again: still there, still consenting, not suppressed.

Links go through the nurture click redirect (a click token naming the broadcast send), so clicks are
counted per broadcast and feed an A/B subject test (``subject_tests``): the test's sends go at once,
the rest wait for the winner.

Recipients are the segment's members who agreed to receive emails and whose address is not on the
suppression list (unsubscribed, bounced, erased). A broadcast to a segment without ``consent: true``,
or to nobody, is refused with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabos import db, mail
from cabos.contacts.models import Contact, ListSubscription, Suppression
from cabos.contacts.privacy import email_hash
from cabos.content.library import Library
from cabos.tracking.touches import channel
from cabos.intent.models import IntentState
from cabos.intent.rules import rules_of
from cabos.intent.store import mode_and_interest_at
from cabos.nurture.audiences import Broadcast, Segment, audiences_of
from cabos.nurture.bounces.models import SentMessage, sent_message_row
from cabos.nurture.emails import Layout, Values, compose, recipient
from cabos.nurture import subject_tests
from cabos.nurture.links import click_token, unsubscribe_token
from cabos.nurture.models import CANCELLED, QUEUED, SKIPPED, BroadcastRun, BroadcastSend
from cabos.nurture.doubt import stuck_command
from cabos.nurture.email_files import format_duration
from cabos.nurture.outbox import Deliverer, SendCounts
from cabos.nurture.scheduler import begin_write, insert_ignoring_duplicates
from cabos.sales.lifecycle import stages as lifecycle_stages
from cabos.tracking.models import Event

log = logging.getLogger("cabos.nurture.broadcasts")
JOB = "broadcasts"
PAGE = 2000
_warned: set[tuple[str, str]] = set()  # refusals already logged by this process (the worker retries every tick)


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    name: str
    company: str
    consented: bool


def _stages_reached(session: Session, ids: list[int], stages: tuple[str, ...]) -> set[int]:
    """Contacts with a reading at one of ``stages``."""
    # `type || ''` is no index term: without ANALYZE statistics (cabos never runs it) SQLite would
    # enter through ix_events_type_time and walk every reading of everyone (see sales/brief.py).
    return set(session.scalars(select(Event.contact_id).where(
        Event.contact_id.in_(ids), (Event.type + "") == "reading", Event.stage.in_(stages)).distinct()))


def _interested(interest: dict[str, Any], segment: Segment) -> bool:
    return any(float(interest.get(p) or 0) > segment.min_interest for p in segment.problems)


def members(session: Session, library: Library, segment: Segment, now: datetime | None = None) -> Iterator[Member]:
    """Everyone the segment's conditions hold for at ``now``: mode and interest as the contact page shows
    them (stored, with decay applied on read), the lifecycle stage from the latest handoff."""
    now = now or db.utcnow()
    rules = rules_of(library)
    decayed = bool(segment.modes or segment.problems)
    stages = library.site.stage_slugs
    later = stages[stages.index(segment.stage):] if segment.stage in stages else ()
    last = 0
    while True:
        query = (select(Contact.id, Contact.email, Contact.name, Contact.company, Contact.consent_at,
                        Contact.first_touch, IntentState.mode, IntentState.grade, IntentState.interest,
                        IntentState.computed_at, IntentState.evidence_until, IntentState.rules_version)
                 .outerjoin(IntentState, IntentState.contact_id == Contact.id)
                 .where(Contact.id > last).order_by(Contact.id).limit(PAGE))
        if segment.consent:
            query = query.where(Contact.consent_at.is_not(None))
        rows = session.execute(query).all()
        if not rows:
            return
        last = rows[-1].id
        ids = [r.id for r in rows]
        reached = _stages_reached(session, ids, later) if segment.stage else set()
        subscribed = set(session.scalars(select(ListSubscription.contact_id).where(
            ListSubscription.contact_id.in_(ids), ListSubscription.list.in_(segment.lists),
            ListSubscription.confirmed_at.is_not(None), ListSubscription.unsubscribed_at.is_(None)))) \
            if segment.lists else set()
        lifecycle = lifecycle_stages(session, ids) if segment.lifecycle else {}
        for r in rows:
            mode, interest = r.mode or "information", r.interest or {}
            if decayed and r.rules_version:  # as the contact page shows them now
                mode, interest = mode_and_interest_at(mode, interest, r.computed_at, r.evidence_until, now, rules)
            if segment.modes and mode not in segment.modes:
                continue
            if segment.grades and (r.grade or "") not in segment.grades:
                continue
            if segment.problems and not _interested(interest, segment):
                continue
            if segment.stage and r.id not in reached:
                continue
            if segment.sources and channel(r.first_touch)[0] not in segment.sources:
                continue
            if segment.companies and (r.company or "").casefold() not in segment.companies:
                continue
            if segment.lists and r.id not in subscribed:
                continue
            if segment.lifecycle and lifecycle.get(r.id, "lead") not in segment.lifecycle:
                continue
            yield Member(r.id, r.email, r.name, r.company, r.consent_at is not None)


def suppressed(session: Session, people: list[Member]) -> set[int]:
    """The members whose address is on the suppression list."""
    out: set[int] = set()
    for i in range(0, len(people), 1000):
        chunk = {email_hash(m.email): m.id for m in people[i:i + 1000]}
        out |= {chunk[h] for h in session.scalars(select(Suppression.email_hash)
                                                   .where(Suppression.email_hash.in_(list(chunk))))}
    return out


@dataclass
class Plan:
    """Who a broadcast would go to now, or why it cannot go."""

    broadcast: Broadcast | None
    segment: Segment | None
    recipients: list[Member] = field(default_factory=list)
    left_out: int = 0  # members whose address is suppressed
    refused: str = ""


class Refused(Exception):
    """The broadcast cannot be queued; the message says why."""


def plan(session: Session, library: Library, slug: str) -> Plan:
    """The recipients of broadcast ``slug`` as of now (nothing is written): the dry run."""
    found = audiences_of(library)
    broadcast = found.broadcasts.get(slug)
    if broadcast is None:
        known = ", ".join(sorted(found.broadcasts)) or "none"
        return Plan(None, None, refused=f"no broadcast {slug!r} in broadcasts/ (known: {known}); run `cabos check`")
    segment = found.segments.get(broadcast.segment)
    if segment is None:
        return Plan(broadcast, None, refused=f"segment {broadcast.segment!r} is missing or has errors; run `cabos check`")
    if not segment.consent:
        return Plan(broadcast, segment, refused=f"segment {segment.slug!r} does not filter on consent: add "
                    f"consent: true to {segment.source_file}")
    people = list(members(session, library, segment))
    gone = suppressed(session, people)
    plan_ = Plan(broadcast, segment, [m for m in people if m.id not in gone], len(gone))
    done = session.get(BroadcastRun, slug)
    if done is not None:
        plan_.refused = (f"broadcast {slug!r} was queued on {done.queued_at:%Y-%m-%d %H:%M} UTC for "
                         f"{done.recipients} people; it is never sent twice (copy it to a new file to send again)")
    elif not plan_.recipients:
        plan_.refused = (f"segment {segment.slug!r} has nobody to send to ({len(people)} members, "
                         f"{len(gone)} unsubscribed or bounced)")
    return plan_


def queue(session: Session, library: Library, slug: str, now: datetime, by: str) -> Plan:
    """Write the broadcast's sends (the caller commits); ``Refused`` if it cannot or did already go."""
    begin_write(session)
    found = plan(session, library, slug)
    if found.refused:
        raise Refused(found.refused)
    assert found.broadcast is not None and found.segment is not None
    try:
        with session.begin_nested():
            session.add(BroadcastRun(slug=slug, segment=found.segment.slug, subject=found.broadcast.subject[:200],
                                     recipients=len(found.recipients), queued_at=now, queued_by=by))
    except IntegrityError:
        raise Refused(f"broadcast {slug!r} is being queued by someone else") from None
    test = found.broadcast.test
    tested = subject_tests.split([m.id for m in found.recipients], subject_tests.broadcast_key(slug), test) \
        if test else {}
    if test:
        subject_tests.start(session, subject_tests.broadcast_key(slug), now)
    rest_at = now + test.wait if test else now  # the rest wait for the test's winner
    for i in range(0, len(found.recipients), 1000):
        insert_ignoring_duplicates(session, BroadcastSend, [
            {"broadcast": slug, "contact_id": m.id, "created_at": now, "status": QUEUED, "reason": "",
             "next_attempt_at": now if m.id in tested or not test else rest_at, "attempts": 0, "error": "",
             "variant": tested.get(m.id), "tested": m.id in tested} for m in found.recipients[i:i + 1000]])
    return found


def queue_due(app: Flask, now: datetime) -> list[str]:
    """Queue every broadcast whose ``send_at`` has come and that was never queued; return their slugs."""
    library: Library = app.extensions["cabos.content"].current()
    due = [b.slug for b in audiences_of(library).broadcasts.values() if b.send_at is not None and b.send_at <= now]
    queued = []
    for slug in due:
        with db.session_scope() as session:
            if session.get(BroadcastRun, slug) is not None:
                continue
            try:
                found = queue(session, library, slug, now, "worker")
            except Refused as exc:
                session.rollback()
                if (slug, str(exc)) not in _warned:
                    _warned.add((slug, str(exc)))
                    log.warning("broadcast %s not sent: %s", slug, exc)
                continue
            except IntegrityError:  # another worker queued it between our check and our insert
                session.rollback()
                continue
            log.info("broadcast %s queued for %d people", slug, len(found.recipients))
            queued.append(slug)
    return queued


# --- delivery --------------------------------------------------------------------------------------------


class BroadcastMailer(Deliverer):
    """Sends queued broadcast emails; every one is checked again just before it goes."""

    model = BroadcastSend
    kind = "broadcast"  # in the Message-ID map: bounces and complaints find the broadcast
    label = "broadcast"
    stuck_hint = "see `cabos broadcast stuck`"

    def __init__(self, app: Flask, sender_id: str | None = None, clock: Callable[[], datetime] = db.utcnow) -> None:
        super().__init__(app, sender_id, clock)
        self.library: Library = app.extensions["cabos.content"].current()
        self.broadcasts = audiences_of(self.library).broadcasts
        self.base_url = str(app.config["SITE_URL"] or self.library.site.base_url).rstrip("/")
        self.adapter = app.url_map.bind("localhost")
        self.layout = Layout(app.jinja_env.get_template("nurture/email.html"), site=self.library.site,
                             brand=self.library.site.brand, base_url=self.base_url)
        self.domain = str(app.config["MAIL_FROM"]).rsplit("@", 1)[-1].strip("> ") or "localhost"
        self._contacts: dict[int, Contact] = {}  # the claimed batch's, while it is checked
        self._suppressed: set[str] = set()
        # row → (email hash, contact, broadcast, variant) until it is recorded sent
        self._rendered: dict[int, tuple[str, int, str, int | None]] = {}

    def _prepare_batch(self, ids: list[int], counts: SendCounts) -> list[tuple[int, mail.Message]]:
        self._rendered.clear()  # the previous batch is recorded by now
        try:
            return super()._prepare_batch(ids, counts)
        finally:
            self._contacts, self._suppressed = {}, set()

    def _preload(self, session: Session, rows: list[BroadcastSend], now: datetime) -> None:
        """The batch's contacts and which of them are suppressed, in two statements."""
        self._contacts = {c.id: c for c in session.scalars(select(Contact).where(
            Contact.id.in_({r.contact_id for r in rows})))}
        self._suppressed = set(session.scalars(select(Suppression.email_hash).where(
            Suppression.email_hash.in_({email_hash(c.email) for c in self._contacts.values()}))))

    def _verdict(self, session: Session, row: BroadcastSend, now: datetime) -> tuple[str, str] | None:
        preloaded = row.contact_id in self._contacts
        contact = self._contacts[row.contact_id] if preloaded else session.get(Contact, row.contact_id)
        if contact is None:
            return CANCELLED, "erased"
        key = email_hash(contact.email)
        if key in self._suppressed if preloaded else session.get(Suppression, key) is not None:
            return CANCELLED, "unsubscribe"
        if contact.consent_at is None:
            return CANCELLED, "no_consent"
        if row.broadcast not in self.broadcasts:
            return SKIPPED, "broadcast_gone"
        return None

    def _recheck(self, session: Session, row_id: int) -> tuple[str, str] | None:
        """A complaint or unsubscribe that arrived since the batch was checked still stops the send."""
        email = session.scalar(select(Contact.email).join(BroadcastSend, BroadcastSend.contact_id == Contact.id)
                               .where(BroadcastSend.id == row_id))
        if email is None:
            return CANCELLED, "erased"
        if session.get(Suppression, email_hash(email)) is not None:
            return CANCELLED, "unsubscribe"
        return None

    def _guard(self, row_id: int) -> dict[str, Any] | None:
        seen = self._rendered.get(row_id)
        return None if seen is None else {"p_guard_hash": seen[0]}

    def _guard_conditions(self) -> tuple[Any, ...]:
        """Not suppressed since the batch was checked (``_recheck`` in SQL)."""
        return (~select(Suppression.email_hash).where(Suppression.email_hash == bindparam("p_guard_hash")).exists(),)

    def _render(self, session: Session, row: BroadcastSend) -> mail.Message:
        contact = self._contacts.get(row.contact_id) or session.get(Contact, row.contact_id)
        assert contact is not None
        broadcast = self.broadcasts[row.broadcast]
        if broadcast.test is not None and row.variant is None:
            # One of the rest, due once the test's wait is over: the winner (picked now if nobody did).
            row.variant = subject_tests.broadcast_winner(session, broadcast.slug, broadcast.test, self.clock())
        message = self.compose(broadcast, contact, row.id, variant=row.variant).outgoing
        self._rendered[row.id] = (email_hash(contact.email), row.contact_id, row.broadcast, row.variant)
        return message

    def compose(self, broadcast: Broadcast, contact: Contact, row_id: int, variant: int | None = None,
                tracked: bool = True) -> Any:
        """The message for one recipient (``variant``: the subject line of an A/B test it got); links go
        through the click redirect, which counts the click and tags our own pages with the campaign."""
        def track(url: str) -> str:
            if not tracked:
                return url
            return self.base_url + self.adapter.build("nurture.click", {
                "token": click_token(str(self.app.secret_key), row_id, url, broadcast=True)})

        # Outbox id 0: the unsubscribe link names the contact, and no sequence step.
        token = unsubscribe_token(str(self.app.secret_key), 0, contact.id, contact.email)
        unsubscribe = self.base_url + self.adapter.build("nurture.unsubscribe", {"token": token})
        footer = "\n".join([f"{self.library.site.name} · {self.base_url}/",
                            _("To stop receiving these emails: %(url)s", url=unsubscribe)])
        subjects = broadcast.test.subjects if broadcast.test else ()
        subject = subjects[variant] if variant is not None and 0 <= variant < len(subjects) else broadcast.subject
        return compose(app=self.app, subject=subject, preheader=broadcast.preheader,
                       template=broadcast.template, values=Values(contact.name, contact.company),
                       base_url=self.base_url, track=track, unsubscribe_url=unsubscribe,
                       to=recipient(contact.name, contact.email), layout=self.layout, footer=footer,
                       message_id=make_msgid(idstring=f"broadcast.{row_id}", domain=self.domain),
                       headers=[("X-Cabos-Broadcast", f"{broadcast.slug}/{row_id}")])

    def _sent_rows(self, row_id: int, message_id: str, now: datetime) -> list[tuple[Any, dict[str, Any]]] | None:
        seen = self._rendered.pop(row_id, None)
        return None if seen is None else self._rows_of(row_id, *seen[1:], message_id, now)

    def _rows_of(self, row_id: int, contact_id: int, broadcast: str, variant: int | None, message_id: str,
                 now: datetime) -> list[tuple[Any, dict[str, Any]]]:
        """Its Message-ID's map row and its ``email_sent`` event (every column without a server default)."""
        return [(SentMessage, sent_message_row(message_id=message_id, contact_id=contact_id, kind=self.kind,
                                               ref_id=row_id, now=now, sequence=broadcast)),
                (Event, {"type": "email_sent", "occurred_at": now, "contact_id": contact_id, "problems": [],
                         "engaged_ms": 0, "scroll_pct": 0, "read_to_end": False,
                         "data": {"broadcast": broadcast, "message_id": message_id,
                                  **({"variant": variant} if variant is not None else {})}})]

    def _record_sent(self, session: Session, row_id: int, message_id: str, now: datetime) -> None:
        rows = self._sent_rows(row_id, message_id, now)
        if rows is None:  # not rendered by this sender's batch: read what the record needs
            row = session.execute(select(BroadcastSend.contact_id, BroadcastSend.broadcast, BroadcastSend.variant)
                                  .where(BroadcastSend.id == row_id)).one()
            rows = self._rows_of(row_id, row.contact_id, row.broadcast, row.variant, message_id, now)
        for model, values in rows:
            session.connection().execute(insert(model), values)


def deliver(app: Flask, stop: Callable[[], bool] | None = None) -> SendCounts:
    mailer = BroadcastMailer(app)
    recovered = mailer.recover(mailer.clock())
    counts = mailer.deliver(stop)
    counts.requeued, counts.stuck = recovered.requeued, recovered.stuck
    return counts


def deliver_job(app: Flask, stop: Callable[[], bool]) -> None:
    """The worker's job (after each tick): queue what is due, then send."""
    queue_due(app, db.utcnow())
    counts = deliver(app, stop)
    if counts.sent or counts.failed or counts.unknown or counts.stuck:
        log.info("broadcasts: sent %d, failed %d, unknown %d", counts.sent, counts.failed, counts.unknown)


# --- the command ------------------------------------------------------------------------------------------


@click.group("broadcast")
def broadcast_group() -> None:
    """One-off emails to a segment: newsletters, invitations."""


@broadcast_group.command("send")
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Print who would receive it; send nothing.")
@with_appcontext
def send_command(slug: str, dry_run: bool) -> None:
    """Queue broadcast SLUG now for its segment (the worker sends it), or --dry-run to list recipients."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    library = app.extensions["cabos.content"].current()
    with db.session_scope() as session:
        if dry_run:
            found = plan(session, library, slug)
            if found.broadcast is None or found.segment is None:
                raise click.ClickException(found.refused)
            for m in found.recipients:
                click.echo(m.email)
            click.echo(f"{len(found.recipients)} recipients for {slug!r} (segment {found.segment.slug}: "
                       f"{'; '.join(found.segment.describe())}); {found.left_out} left out: unsubscribed or bounced",
                       err=True)
            test = found.broadcast.test
            if test is not None and found.recipients:
                tested = len(subject_tests.split([m.id for m in found.recipients], subject_tests.broadcast_key(slug),
                                                 test))
                click.echo(f"A/B subject test: {tested} of them get one of {len(test.subjects)} subject lines now; "
                           f"the other {len(found.recipients) - tested} get the one with the best click rate "
                           f"{format_duration(test.wait)} later", err=True)
            if found.refused:
                raise click.ClickException(found.refused)
            return
        try:
            found = queue(session, library, slug, db.utcnow(), "cli")
        except Refused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"broadcast {slug!r} queued for {len(found.recipients)} people; the worker sends it "
               "(or run `cabos broadcast deliver`)")


@broadcast_group.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Send the queued broadcast emails now (the worker does it every tick; safe to overlap)."""
    counts = deliver(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"broadcasts: sent {counts.sent}, cancelled {counts.cancelled}, failed {counts.failed}, "
               f"retried {counts.retried}, unknown {counts.unknown}")


broadcast_group.add_command(stuck_command(BroadcastSend, "broadcast emails", "cabos broadcast stuck",
                                          lambda row: row.broadcast))


def init_app(app: Flask) -> None:
    """Make the worker queue due broadcasts and send them after each tick."""
    app.extensions.setdefault("cabos.worker_jobs", {})[JOB] = deliver_job
