"""The outbox sender: claim rows, check again, mark them sending, deliver over SMTP, mark them sent.

Each send is at most once. A row moves queued → claimed → sending → sent, and
every move is a compare-and-set on (status, claimed_by) committed on its own:

- *claim*: a batch of queued rows becomes ``claimed`` by this sender
  (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``, the
  single-writer lock), so concurrent senders never take the same row;
- *checked*: the claimed batch is checked (suppression, the enrolment still
  running, purchase mode, how late it is: one statement each for the batch) and
  rendered in one transaction; rows that must not go are settled there;
- *sending*: just before the SMTP conversation the row is marked ``sending``
  (committed) by a statement guarded by what may have changed since the check
  (a suppression, the enrolment ended); only then does the conversation start;
- *sent*: after the server accepted it, with its Message-ID, in the same commit
  as the next row's ``sending`` mark (on PostgreSQL one statement:
  ``one_statement``).

If a sender dies, a ``claimed`` row was never attempted: once its claim is
older than NURTURE_CLAIM_TIMEOUT it goes back to the queue. A ``sending`` row
may or may not have reached the server: after NURTURE_STUCK_AFTER it becomes
``unknown`` and is **never resent automatically**; staff see it
(``cabos nurture stuck``, or the page /staff/nurture/in-doubt) and decide.
Temporary failures (a 4xx answer, a refused connection) retry with exponential
backoff; a timeout or a dropped connection after the message was handed over
is ambiguous, so it is ``unknown`` too. A 5xx for the recipient fails that row
only and suppresses the address.

``Deliverer`` is this state machine for any table with a send's columns
(``models.Delivery``); ``Sender`` adds the outbox's checks and rendering, and
the guide link emails (``cabos.site.guide_mail``) use it too.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import smtplib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from cabos import db, mail
from cabos.contacts.models import Contact, Suppression
from cabos.contacts.privacy import email_hash
from cabos.content.library import Library
from cabos.intent.rules import rules_of
from cabos.intent.scoring import should_hand_off
from cabos.intent.store import State, current_state, current_states
from cabos.nurture import subject_tests
from cabos.nurture.bounces.models import SentMessage, remember, sent_message_row
from cabos.nurture.emails import Composed, Layout, Values, compose, recipient
from cabos.nurture.handoff import exit_sequences, hand_off, purchase_exits
from cabos.nurture.links import click_token, unsubscribe_token
from cabos.nurture.models import (
    CANCELLED,
    CLAIMED,
    EXITED,
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    UNKNOWN,
    Enrolment,
    OutboxMessage,
)
from cabos.nurture.one_statement import start_statement
from cabos.nurture.scheduler import begin_write, is_postgres
from cabos.nurture.sequences import nurture_of
from cabos.tracking.models import Event

log = logging.getLogger("cabos.nurture.outbox")


# --- composing ------------------------------------------------------------------------------------------


class Composer:
    """Renders outbox rows into messages for one library (built once per tick)."""

    def __init__(self, app: Flask, library: Library) -> None:
        self.app = app
        self.library = library
        self.nurture = nurture_of(library)
        self.base_url = str(app.config["SITE_URL"] or library.site.base_url).rstrip("/")
        # Paths only: a worker has no request to build URLs from.
        self.adapter = app.url_map.bind("localhost")
        self.layout = Layout(app.jinja_env.get_template("nurture/email.html"), site=library.site,
                             brand=library.site.brand, base_url=self.base_url)
        self.secret = str(app.secret_key)
        self.domain = str(app.config["MAIL_FROM"]).rsplit("@", 1)[-1].strip("> ") or "localhost"

    def url(self, endpoint: str, **values: Any) -> str:
        return self.base_url + self.adapter.build(endpoint, values)

    def article_url(self, slug: str) -> str:
        return self.url("public.article", slug=slug)

    def values(self, contact: Contact, data: dict[str, Any]) -> Values | None:
        """Tag values for this contact; None if the chosen article is no longer published."""
        slug = (data or {}).get("article")
        article = self.library.articles.get(slug) if slug else None
        if slug and article is None:
            return None
        return Values(contact.name, contact.company, article, self.article_url(article.slug) if article else "")

    def compose(self, row_id: int, email_slug: str, contact: Contact, values: Values,
                tracked: bool = True, variant: int | None = None) -> Composed:
        """The message for one outbox row; ``tracked=False`` keeps links as written (previews); ``variant``:
        the subject line of an A/B test this row got."""
        email = self.nurture.emails[email_slug]
        subjects = email.test.subjects if email.test else ()
        subject = subjects[variant] if variant is not None and 0 <= variant < len(subjects) else email.subject

        def track(url: str) -> str:
            return self.url("nurture.click", token=click_token(self.secret, row_id, url)) if tracked else url

        unsubscribe = self.url("nurture.unsubscribe",
                               token=unsubscribe_token(self.secret, row_id, contact.id, contact.email))
        footer = "\n".join([f"{self.library.site.name} · {self.base_url}/",
                            _("To stop receiving these emails: %(url)s", url=unsubscribe)])
        return compose(app=self.app, subject=subject, preheader=email.preheader, template=email.template,
                       values=values, base_url=self.base_url, track=track, unsubscribe_url=unsubscribe,
                       to=recipient(contact.name, contact.email), layout=self.layout, footer=footer,
                       message_id=make_msgid(idstring=f"nurture.{row_id}", domain=self.domain),
                       headers=[("X-Cabos-Outbox", str(row_id))])


# --- settings --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    batch_size: int
    max_late: timedelta
    claim_timeout: timedelta
    stuck_after: timedelta
    retry_attempts: int
    retry_base: timedelta
    retry_max: timedelta

    @classmethod
    def from_config(cls, config: Any) -> Policy:
        return cls(
            batch_size=max(1, int(config["NURTURE_CLAIM_SIZE"])),
            max_late=timedelta(hours=float(config["NURTURE_MAX_LATENESS_HOURS"])),
            claim_timeout=timedelta(seconds=float(config["NURTURE_CLAIM_TIMEOUT"])),
            stuck_after=timedelta(seconds=float(config["NURTURE_STUCK_AFTER"])),
            retry_attempts=max(1, int(config["NURTURE_RETRY_ATTEMPTS"])),
            retry_base=timedelta(seconds=float(config["NURTURE_RETRY_BASE"])),
            retry_max=timedelta(seconds=float(config["NURTURE_RETRY_MAX"])),
        )

    def backoff(self, attempts: int) -> timedelta:
        """Doubling waits: base, 2×base, 4×base … capped at NURTURE_RETRY_MAX."""
        return min(self.retry_base * (2 ** max(attempts - 1, 0)), self.retry_max)


@dataclass
class SendCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    cancelled: int = 0
    skipped: int = 0
    lost: int = 0  # another sender took the row over (our claim had expired)
    released: int = 0
    requeued: int = 0  # claims of dead senders given back to the queue
    stuck: int = 0  # rows found sending for too long: now unknown
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, reason: str = "") -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if reason:
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


# --- the sender ------------------------------------------------------------------------------------------


def _core(session: Session, statement: Any, params: Any = None) -> Any:
    """Run a statement on the session's connection, without the ORM's bookkeeping.

    The sender's per-message statements touch rows it holds no objects for; through the
    ORM each paid for synchronising the identity map, a third of the sender's time.
    """
    return session.connection().execute(statement, params)


def _retry_safe(exc: mail.MailError) -> bool:
    """The server surely did not take the message: it said 4xx, or the conversation ended before DATA."""
    if exc.not_sent or (exc.code is not None and 400 <= exc.code < 500):
        return True
    cause = exc.__cause__
    return isinstance(cause, (ConnectionRefusedError, socket.gaierror, smtplib.SMTPConnectError,
                              smtplib.SMTPAuthenticationError, smtplib.SMTPHeloError))


class Deliverer:
    """Claims rows of one delivery table under its own id and sends them one by one, at most once.

    A delivery table has the columns of a send's life (``status``, ``reason``, ``error``,
    ``attempts``, ``next_attempt_at``, ``claimed_by``, ``claimed_at``, ``sending_at``, ``sent_at``,
    ``message_id``) and a ``contact_id``. A subclass names the table (``model``), turns a claimed
    row into a message in the transaction that marks it sending (``_prepare``), and may record
    more once it is sent (``_record_sent``). The nurture outbox is one such table, the guide
    link emails (``cabos.site.guide_mail``) another.
    """

    model: Any = None
    kind = "nurture"  # in the Message-ID map (bounces find their send by it)
    label = "nurture"  # in log lines
    stuck_hint = "see `cabos nurture stuck`"

    def __init__(self, app: Flask, sender_id: str | None = None, clock: Callable[[], datetime] = db.utcnow) -> None:
        self.app = app
        self.clock = clock
        self.database = db.database(app)
        self.id = sender_id or secrets.token_hex(8)
        self.policy = Policy.from_config(app.config)
        self._statements: dict[str, Any] = {}

    # -- housekeeping --

    def recover(self, now: datetime, counts: SendCounts | None = None) -> SendCounts:
        """Requeue claims of senders that died before trying; mark rows sending for too long unknown."""
        counts = counts or SendCounts()
        table = self.model
        with self.database.session() as session:
            begin_write(session)
            counts.requeued += session.execute(
                update(table).where(table.status == CLAIMED, table.claimed_at < now - self.policy.claim_timeout)
                .values(status=QUEUED, claimed_by=None, claimed_at=None)).rowcount or 0
            stuck = session.execute(
                update(table).where(table.status == SENDING, table.sending_at < now - self.policy.stuck_after)
                .values(status=UNKNOWN, reason="sender_lost",
                        error="the sender stopped while sending; it may or may not have been delivered")
            ).rowcount or 0
        if stuck:
            log.warning("%s: %s sends left 'sending' by a stopped sender are now 'unknown' "
                        "(never resent automatically; %s)", self.label, stuck, self.stuck_hint)
        counts.stuck += stuck
        return counts

    def claim(self, now: datetime) -> list[int]:
        """Take a batch of ready rows for this sender."""
        table = self.model
        with self.database.session() as session:
            begin_write(session)
            query = (select(table.id).where(table.status == QUEUED, table.next_attempt_at <= now)
                     .order_by(table.next_attempt_at, table.id).limit(self.policy.batch_size))
            if is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if ids:
                session.execute(update(table).where(table.id.in_(ids), table.status == QUEUED)
                                .values(status=CLAIMED, claimed_by=self.id, claimed_at=now))
        return ids

    def release(self, ids: list[int]) -> int:
        """Give rows this sender claimed but will not try back to the queue (a clean stop)."""
        if not ids:
            return 0
        table = self.model
        with self.database.session() as session:
            begin_write(session)
            return session.execute(update(table).where(
                table.id.in_(ids), table.status == CLAIMED, table.claimed_by == self.id)
                .values(status=QUEUED, claimed_by=None, claimed_at=None)).rowcount or 0

    def deliver(self, stop: Any = None, limit: int | None = None) -> SendCounts:
        """Claim and send until nothing is ready (or ``stop()`` says so, or ``limit`` sends were tried).

        Per claimed batch: one transaction checks and renders every row (they stay ``claimed``);
        then, per row, one transaction records the previous row as sent and marks this one
        ``sending`` (checking suppression and the enrolment again), and the message goes over
        the sender's one SMTP connection. A crash leaves at most the row in flight in doubt.
        """
        counts = SendCounts()
        tried = 0
        with mail.connection(self.app) as through, self._autocommit() as at_once:
            while not (stop and stop()):
                ids = self.claim(self.clock())
                if not ids:
                    break
                ready = self._prepare_batch(ids, counts)
                accepted: tuple[int, str] | None = None  # taken by the server, recorded with the next start
                for i, (row_id, message) in enumerate(ready):
                    if (stop and stop()) or (limit is not None and tried >= limit):
                        self._record(accepted, counts)
                        counts.released += self.release([r for r, _ in ready[i:]])
                        return counts
                    verdict = self._start(row_id, accepted, counts, at_once)
                    accepted = None
                    if verdict is not None:
                        counts.add(*verdict)
                        continue
                    tried += 1
                    try:
                        message_id = mail.send(message, self.app, through)
                    except mail.MailError as exc:
                        counts.add(*self._failure(row_id, exc))
                        continue
                    except Exception as exc:  # we cannot tell whether the server got it
                        log.exception("%s: unexpected error sending row %s", self.label, row_id)
                        counts.add(*self._finish(row_id, UNKNOWN, "error", str(exc)[:500]))
                        continue
                    accepted = (row_id, message_id)
                self._record(accepted, counts)
        return counts

    def _prepare_batch(self, ids: list[int], counts: SendCounts) -> list[tuple[int, mail.Message]]:
        """Check and render a claimed batch in one transaction; rows that must not go are settled now."""
        now = self.clock()
        ready = []
        with self.database.session() as session:
            begin_write(session)
            query = select(self.model).where(self.model.id.in_(ids))
            if is_postgres(session):
                query = query.with_for_update()
            rows = {row.id: row for row in session.scalars(query)}  # locked in one statement
            self._preload(session, list(rows.values()), now)
            for row_id in ids:
                outcome = self._check_and_render(session, row_id, now, rows.get(row_id))
                if isinstance(outcome, tuple):
                    counts.add(*outcome)
                else:
                    ready.append((row_id, outcome))
        return ready

    def _start(self, row_id: int, accepted: tuple[int, str] | None, counts: SendCounts,
               at_once: Connection | None = None) -> tuple[str, str] | None:
        """Record the previous send and mark this row ``sending`` (committed); or why it must not go.

        Where the subclass has a guard (``_guard``: no suppression since the batch was checked,
        the enrolment still running) it is part of the statement that marks the row sending;
        only when that statement changes nothing is the row read to say why. On PostgreSQL
        (``at_once``) all of it is one statement (``one_statement``).
        """
        if at_once is not None:
            guard = self._guard(row_id)
            records = self._sent_rows(*accepted, self.clock()) if accepted is not None else []
            if guard is not None and records is not None:
                if self._start_at_once(at_once, row_id, accepted, records, guard, counts):
                    return None
                accepted = None  # recorded; this row could not be marked: the usual path says why
        now = self.clock()
        table = self.model
        with self.database.session() as session:
            begin_write(session)
            if accepted is not None:
                counts.add(*self._mark_sent(session, *accepted, now))
            guard = self._guard(row_id)
            verdict = self._recheck(session, row_id) if guard is None else None
            if verdict is None:
                # Committed before the SMTP conversation starts: from here on a crash means 'unknown'.
                changed = _core(session, self._statement("sending" if guard is None else "sending_guarded"),
                                {"p_row": row_id, "p_sender": self.id, "p_now": now, **(guard or {})}).rowcount
                if changed or guard is None:
                    return None if changed else ("lost", "")
                verdict = self._recheck(session, row_id)
                if verdict is None:
                    return "lost", ""
            status, reason = verdict
            changed = _core(session, update(table).where(
                table.id == row_id, table.status == CLAIMED, table.claimed_by == self.id)
                .values(status=status, reason=reason, claimed_by=None)).rowcount
            return (("cancelled" if status == CANCELLED else "skipped") if changed else "lost"), reason

    def _start_at_once(self, at_once: Connection, row_id: int, accepted: tuple[int, str] | None,
                       records: list[tuple[Any, dict[str, Any]]], guard: dict[str, Any], counts: SendCounts) -> bool:
        """``_start`` in one statement, committed on its own (PostgreSQL); whether the row is now sending."""
        now = self.clock()
        shape = ("at_once", accepted is not None, tuple((model, tuple(sorted(values))) for model, values in records))
        if shape not in self._statements:
            self._statements[shape] = start_statement(self.model, self._guard_conditions(),
                                                      [(model, columns) for model, columns in shape[2]], shape[1])
        params = {"p_row": row_id, "p_sender": self.id, "p_now": now, **guard}
        if accepted is not None:
            params.update(p_prev=accepted[0], p_message_id=accepted[1][:255])
        for i, (_model, values) in enumerate(records):
            params.update({f"p_{i}_{column}": value for column, value in values.items()})
        result = at_once.execute(self._statements[shape], params).one()
        if accepted is not None:
            counts.add("sent" if result[0] else "lost")
        return bool(result[1] if accepted is not None else result[0])

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[Connection | None]:
        """A connection in autocommit for the one-statement starts on PostgreSQL (None on SQLite)."""
        if self.database.is_sqlite:
            yield None
            return
        with self.database.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def _sent_rows(self, row_id: int, message_id: str, now: datetime) -> list[tuple[Any, dict[str, Any]]] | None:
        """The rows a sent row leaves behind (model, values), known without reading; None: ``_record_sent`` reads."""
        return None

    def _record(self, accepted: tuple[int, str] | None, counts: SendCounts) -> None:
        if accepted is not None:
            with self.database.session() as session:
                begin_write(session)
                counts.add(*self._mark_sent(session, *accepted, self.clock()))

    def _recheck(self, session: Session, row_id: int) -> tuple[str, str] | None:
        """What may have changed since the batch was checked (an unsubscribe, say), just before sending."""
        return None

    def _guard(self, row_id: int) -> dict[str, Any] | None:
        """The parameters of ``_guard_conditions`` for this row, or None: ``_recheck`` it first."""
        return None

    def _guard_conditions(self) -> tuple[Any, ...]:
        """``_recheck`` as conditions of the statement that marks a row sending (bound parameters ``p_guard_*``)."""
        return ()

    def _statement(self, name: str) -> Any:
        """A per-message statement, built once per sender (each message only binds its values)."""
        if name not in self._statements:
            t = self.model
            mine = (t.id == bindparam("p_row"), t.claimed_by == bindparam("p_sender"))
            if name == "sent":
                # 'unknown' too: a slow send may have been declared lost meanwhile; the server's answer wins.
                statement = update(t).where(*mine, t.status.in_((SENDING, UNKNOWN))).values(
                    status=SENT, reason="", error="", sent_at=bindparam("p_now"), message_id=bindparam("p_message_id"))
            else:
                guard = self._guard_conditions() if name == "sending_guarded" else ()
                statement = update(t).where(*mine, t.status == CLAIMED, *guard).values(
                    status=SENDING, sending_at=bindparam("p_now"), attempts=t.attempts + 1)
            self._statements[name] = statement
        return self._statements[name]

    # -- one row --

    def send_one(self, row_id: int, through: mail.Connection | None = None) -> tuple[str, str]:
        """Check, mark sending, deliver (over ``through`` if given), mark sent: returns (outcome, reason)."""
        prepared = self._prepare(row_id)
        if isinstance(prepared, tuple):
            return prepared
        try:
            message_id = mail.send(prepared, self.app, through)
        except mail.MailError as exc:
            return self._failure(row_id, exc)
        except Exception as exc:  # we cannot tell whether the server got it
            log.exception("%s: unexpected error sending row %s", self.label, row_id)
            return self._finish(row_id, UNKNOWN, "error", str(exc)[:500])
        return self._sent(row_id, message_id)

    def _failure(self, row_id: int, exc: mail.MailError) -> tuple[str, str]:
        if isinstance(exc, mail.PermanentMailError):
            return self._failed(row_id, exc)
        return self._temporary(row_id, exc)  # type: ignore[arg-type]

    def _prepare(self, row_id: int) -> mail.Message | tuple[str, str]:
        """The message for a row this sender claimed, marked ``sending`` (committed); or (outcome, reason)."""
        now = self.clock()
        with self.database.session() as session:
            begin_write(session)
            message = self._check_and_render(session, row_id, now)
            if isinstance(message, tuple):
                return message
            row = session.get(self.model, row_id)
            # Committed before the SMTP conversation starts: from here on a crash means 'unknown'.
            row.status, row.sending_at, row.attempts = SENDING, now, row.attempts + 1
        return message

    def _preload(self, session: Session, rows: list[Any], now: datetime) -> None:
        """Load what the checks of a batch read, in a few statements, and keep it for the batch."""

    def _check_and_render(self, session: Session, row_id: int, now: datetime,
                          locked: Any = None) -> mail.Message | tuple[str, str]:
        """The message for a row this sender still holds, or (outcome, reason) with the row settled."""
        if locked is not None:
            row = locked if locked.status == CLAIMED and locked.claimed_by == self.id else None
        else:
            row = self._claimed_row(session, row_id)
        if row is None:
            return "lost", ""
        verdict = self._verdict(session, row, now)
        if verdict:
            status, reason = verdict
            row.status, row.reason, row.claimed_by = status, reason, None
            return ("cancelled" if status == CANCELLED else "skipped"), reason
        try:
            message = self._render(session, row)
        except Exception as exc:  # a content mistake: nothing was sent, nothing will be
            log.exception("%s: cannot render row %s", self.label, row.id)
            row.status, row.reason, row.error, row.claimed_by = FAILED, "render", str(exc)[:500], None
            return "failed", "render"
        return message

    def _verdict(self, session: Session, row: Any, now: datetime) -> tuple[str, str] | None:
        """Why this row must not be sent now (CANCELLED or SKIPPED, and a reason), in the transaction that marks it sending."""
        return None

    def _render(self, session: Session, row: Any) -> mail.Message:
        raise NotImplementedError

    def _claimed_row(self, session: Session, row_id: int) -> Any:
        """The row, locked, if it is still claimed by this sender (else None: another one took it over)."""
        query = select(self.model).where(self.model.id == row_id)
        if is_postgres(session):
            query = query.with_for_update()
        row = session.scalars(query).one_or_none()
        if row is None or row.status != CLAIMED or row.claimed_by != self.id:
            return None
        return row

    def _record_sent(self, session: Session, row_id: int, message_id: str, now: datetime) -> None:
        """What else a delivered row leaves behind, in the transaction that marks it sent: its Message-ID's map."""
        contact_id = session.scalar(select(self.model.contact_id).where(self.model.id == row_id))
        if contact_id is not None:
            remember(session, message_id=message_id, contact_id=contact_id, kind=self.kind, ref_id=row_id, now=now)

    def _finish(self, row_id: int, status: str, reason: str, error: str = "", **values: Any) -> tuple[str, str]:
        table = self.model
        with self.database.session() as session:
            begin_write(session)
            changed = session.execute(update(table).where(
                table.id == row_id, table.claimed_by == self.id, table.status.in_((SENDING, UNKNOWN)))
                .values(status=status, reason=reason, error=error[:500], **values)).rowcount
        return ({SENT: "sent", FAILED: "failed", UNKNOWN: "unknown", QUEUED: "retried"}[status] if changed else "lost",
                reason)

    def _sent(self, row_id: int, message_id: str) -> tuple[str, str]:
        with self.database.session() as session:
            begin_write(session)
            return self._mark_sent(session, row_id, message_id, self.clock())

    def _mark_sent(self, session: Session, row_id: int, message_id: str, now: datetime) -> tuple[str, str]:
        changed = _core(session, self._statement("sent"), {"p_row": row_id, "p_sender": self.id, "p_now": now,
                                                          "p_message_id": message_id[:255]}).rowcount
        if changed:
            self._record_sent(session, row_id, message_id, now)
        return ("sent" if changed else "lost"), ""

    def _temporary(self, row_id: int, exc: mail.TemporaryMailError) -> tuple[str, str]:
        if not _retry_safe(exc):
            log.warning("%s: row %s: %s (it may have been delivered: marked unknown)", self.label, row_id, exc)
            return self._finish(row_id, UNKNOWN, "ambiguous", str(exc))
        with self.database.session() as session:
            attempts = session.scalar(select(self.model.attempts).where(self.model.id == row_id)) or 1
        if attempts >= self.policy.retry_attempts:
            return self._finish(row_id, FAILED, "temporary", f"gave up after {attempts} attempts: {exc}")
        return self._finish(row_id, QUEUED, "retry", str(exc), claimed_by=None, claimed_at=None,
                            next_attempt_at=self.clock() + self.policy.backoff(attempts))

    def _failed(self, row_id: int, exc: mail.PermanentMailError) -> tuple[str, str]:
        now = self.clock()
        outcome = self._finish(row_id, FAILED, "rejected", str(exc))
        if exc.recipients and outcome[0] == "failed":
            # The server refused this address for good: never email it again.
            with self.database.session() as session:
                contact_id = session.scalar(select(self.model.contact_id).where(self.model.id == row_id))
                contact = session.get(Contact, contact_id) if contact_id else None
                if contact is not None:
                    suppress(session, contact, "bounced", now)
        return outcome


@dataclass(frozen=True)
class _Rendered:
    """What a sender remembers of a row it rendered, until the row is recorded as sent."""

    email_hash: str
    enrolment_id: int
    contact_id: int
    sequence: str
    step: str
    email: str
    article: str | None


@dataclass
class _Batch:
    """What the checks of a claimed batch read, loaded in a few statements (strong references: the
    session's identity map alone would let the objects go)."""

    contacts: dict[int, Contact] = field(default_factory=dict)
    enrolments: dict[int, Enrolment] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)  # email hashes
    states: dict[int, State] = field(default_factory=dict)


class Sender(Deliverer):
    """One nurture sender process: claims outbox rows, checks each again, sends it."""

    model = OutboxMessage

    def __init__(self, app: Flask, library: Library | None = None, sender_id: str | None = None,
                 clock: Callable[[], datetime] = db.utcnow) -> None:
        super().__init__(app, sender_id, clock)
        self.library = library or app.extensions["cabos.content"].current()
        self.composer = Composer(app, self.library)
        self.rules = rules_of(self.library)
        self._rendered: dict[int, _Rendered] = {}
        self._batch = _Batch()

    def _verdict(self, session: Session, row: OutboxMessage, now: datetime) -> tuple[str, str] | None:
        contact = self._batch.contacts.get(row.contact_id) or session.get(Contact, row.contact_id)
        enrolment = self._batch.enrolments.get(row.enrolment_id) or session.get(Enrolment, row.enrolment_id)
        verdict = self._check(session, row, contact, enrolment, now)
        if verdict is None and self.composer.values(contact, row.data) is None:  # type: ignore[arg-type]
            return SKIPPED, "article_gone"
        return verdict

    def _prepare_batch(self, ids: list[int], counts: SendCounts) -> list[tuple[int, mail.Message]]:
        self._rendered.clear()  # the previous batch is recorded by now
        try:
            return super()._prepare_batch(ids, counts)
        finally:
            self._batch = _Batch()

    def _preload(self, session: Session, rows: list[OutboxMessage], now: datetime) -> None:
        """One statement each for the batch's contacts, enrolments, suppressions and intent states."""
        if not rows:
            return
        contacts = {c.id: c for c in session.scalars(select(Contact).where(
            Contact.id.in_({r.contact_id for r in rows})))}
        enrolments = {e.id: e for e in session.scalars(select(Enrolment).where(
            Enrolment.id.in_({r.enrolment_id for r in rows})))}
        hashes = {email_hash(c.email) for c in contacts.values()}
        suppressed = set(session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))))
        self._batch = _Batch(contacts, enrolments, suppressed, current_states(session, list(contacts), now, self.rules))

    def _recheck(self, session: Session, row_id: int) -> tuple[str, str] | None:
        seen = self._rendered.get(row_id)
        if seen is None:  # not rendered by this sender's batch: read what the check needs
            found = session.execute(select(Contact.email, OutboxMessage.enrolment_id)
                                    .join(OutboxMessage, OutboxMessage.contact_id == Contact.id)
                                    .where(OutboxMessage.id == row_id)).one_or_none()
            if found is None:
                return CANCELLED, "erased"
            key, enrolment_id = email_hash(found.email), found.enrolment_id
        else:
            key, enrolment_id = seen.email_hash, seen.enrolment_id
        # One statement: the enrolment's state and whether the address is suppressed now.
        found = session.execute(select(Enrolment.status, Enrolment.exit_reason,
                                       select(Suppression.email_hash).where(Suppression.email_hash == key)
                                       .exists().label("suppressed"))
                                .where(Enrolment.id == enrolment_id)).one_or_none()
        if found is None:
            return CANCELLED, "erased"
        if found.suppressed:
            return CANCELLED, "unsubscribe"
        if found.status == EXITED:
            return CANCELLED, found.exit_reason or "exited"
        return None

    def _guard(self, row_id: int) -> dict[str, Any] | None:
        seen = self._rendered.get(row_id)
        if seen is None:
            return None
        return {"p_guard_hash": seen.email_hash, "p_guard_enrolment": seen.enrolment_id}

    def _guard_conditions(self) -> tuple[Any, ...]:
        """Not suppressed since the batch was checked, and the enrolment still running (``_recheck`` in SQL)."""
        return (~select(Suppression.email_hash).where(Suppression.email_hash == bindparam("p_guard_hash")).exists(),
                select(Enrolment.id).where(Enrolment.id == bindparam("p_guard_enrolment"),
                                           Enrolment.status != EXITED).exists())

    def _render(self, session: Session, row: OutboxMessage) -> mail.Message:
        contact = self._batch.contacts.get(row.contact_id) or session.get(Contact, row.contact_id)
        assert contact is not None
        values = self.composer.values(contact, row.data)
        assert values is not None
        email = self.composer.nurture.emails[row.email]
        if email.test is not None and "subject" not in (row.data or {}):
            # Recorded on the row in the transaction that renders it: a sender that renders it again keeps it.
            variant, key = subject_tests.step_variant(session, row.sequence, row.step, row.email, email.test,
                                                      row.contact_id, self.clock())
            row.data = {**(row.data or {}), "subject": variant, **({"test": key} if key else {})}
        message = self.composer.compose(row.id, row.email, contact, values,
                                        variant=(row.data or {}).get("subject")).outgoing
        # What the start and the sent record need, so they do not read the row again.
        self._rendered[row.id] = _Rendered(email_hash(contact.email), row.enrolment_id, row.contact_id, row.sequence,
                                           row.step, row.email, (row.data or {}).get("article"))
        return message

    def _check(self, session: Session, row: OutboxMessage, contact: Contact | None, enrolment: Enrolment | None,
               now: datetime) -> tuple[str, str] | None:
        """Why this row must not be sent now, checked in the transaction that marks it sending."""
        if contact is None or enrolment is None:
            return CANCELLED, "erased"
        key = email_hash(contact.email)
        if key in self._batch.suppressed if contact.id in self._batch.contacts \
                else session.get(Suppression, key) is not None:
            return CANCELLED, "unsubscribe"
        if enrolment.status == EXITED:
            return CANCELLED, enrolment.exit_reason or "exited"
        sequence = self.composer.nurture.sequences.get(row.sequence)
        if row.email not in self.composer.nurture.emails:
            return SKIPPED, "missing_email"
        state = self._batch.states.get(contact.id) if contact.id in self._batch.contacts \
            else current_state(session, contact.id, now, self.rules)
        if state is not None and state.mode == "purchase" and state.mode_since >= enrolment.enrolled_at:
            # Switched to purchase mode after this step was queued and nobody stopped it yet.
            if should_hand_off(state.assessment, self.rules):
                hand_off(session, contact, state.assessment, now, "nurture")
                return CANCELLED, "handoff"
            if sequence is None or "purchase_mode" in sequence.exits:
                exit_sequences(session, contact.id, "purchase_mode", now, purchase_exits(self.composer.nurture))
                return CANCELLED, "purchase_mode"
        if now - row.due_at > self.policy.max_late:
            return SKIPPED, "late"
        return None

    def _sent_rows(self, row_id: int, message_id: str, now: datetime) -> list[tuple[Any, dict[str, Any]]] | None:
        row = self._rendered.pop(row_id, None)
        return None if row is None else self._rows_of(row_id, row, message_id, now)

    def _rows_of(self, row_id: int, row: _Rendered, message_id: str, now: datetime) -> list[tuple[Any, dict[str, Any]]]:
        """Its Message-ID's map row and its ``email_sent`` event (every column without a server default)."""
        return [(SentMessage, sent_message_row(message_id=message_id, contact_id=row.contact_id, kind=self.kind,
                                               ref_id=row_id, now=now, sequence=row.sequence, step=row.step)),
                (Event, {"type": "email_sent", "occurred_at": now, "contact_id": row.contact_id, "problems": [],
                         "engaged_ms": 0, "scroll_pct": 0, "read_to_end": False, "data": {
                             "outbox": row_id, "sequence": row.sequence, "step": row.step, "email": row.email,
                             "message_id": message_id, **({"article": row.article} if row.article else {})}})]

    def _record_sent(self, session: Session, row_id: int, message_id: str, now: datetime) -> None:
        rows = self._sent_rows(row_id, message_id, now)
        if rows is None:  # not rendered by this sender's batch (send_one): read what the record needs
            found = session.execute(select(OutboxMessage.contact_id, OutboxMessage.sequence, OutboxMessage.step,
                                           OutboxMessage.email, OutboxMessage.data)
                                    .where(OutboxMessage.id == row_id)).one()
            rows = self._rows_of(row_id, _Rendered("", 0, found.contact_id, found.sequence, found.step, found.email,
                                                   (found.data or {}).get("article")), message_id, now)
        for model, values in rows:
            _core(session, insert(model), values)


def suppress(session: Session, contact: Contact, reason: str, now: datetime) -> None:
    """Never email this address again; end its sequences and cancel its queued sends."""
    key = email_hash(contact.email)
    if session.get(Suppression, key) is None:
        session.add(Suppression(email_hash=key, reason=reason[:50], created_at=now))
    exit_sequences(session, contact.id, "unsubscribe" if reason == "unsubscribe" else reason, now)
    session.flush()


# --- staff: sends that may or may not have gone out --------------------------------------------------------


def stuck(session: Session, limit: int = 100, model: Any = OutboxMessage) -> list[Any]:
    """Rows whose delivery is unknown (a sender died mid-send), newest first, for staff to decide."""
    return list(session.scalars(select(model).where(model.status == UNKNOWN)
                                .order_by(model.sending_at.desc(), model.id.desc()).limit(limit)))


def resolve(session: Session, row_id: int, outcome: str, now: datetime, model: Any = OutboxMessage) -> Any:
    """Staff decided about an unknown row: 'sent' (it arrived), 'failed' (leave it), or 'requeue' (send it again)."""
    row = session.get(model, row_id)
    if row is None or row.status != UNKNOWN:
        raise ValueError(f"{model.__tablename__} row {row_id} is not in 'unknown' state")
    if outcome == "sent":
        row.status, row.sent_at = SENT, row.sending_at or now
    elif outcome == "failed":
        row.status = FAILED
    elif outcome == "requeue":
        row.status, row.claimed_by, row.claimed_at, row.next_attempt_at = QUEUED, None, None, now
        if isinstance(row, OutboxMessage):
            row.due_at = now  # a human decided to send it now: not late
    else:
        raise ValueError("outcome must be sent, failed or requeue")
    row.reason = f"staff_{outcome}"
    session.flush()
    return row
