"""The bounce mailbox: read over IMAP or POP3 (MAIL_BOUNCE_MAILBOX), each message applied or kept for review.

The mailbox is named by one URL: ``imaps://user:password@host[:port]/Folder`` (or ``imap://``
with STARTTLS if the server offers it), ``pop3s://user:password@host[:port]`` (or ``pop3://``).
Over IMAP a message read is flagged ``\\Seen`` and only unseen ones are read; over POP3 it is
deleted once its outcome is committed (POP3 has no flags). Either way nothing is lost: every
message becomes a report applied to its send or a row kept for review (``cabos mail bounces``
lists them).
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from cabos.nurture.bounces import dsn
from cabos.nurture.bounces.record import Policy, keep_for_review, record

log = logging.getLogger("cabos.nurture.bounces")


@dataclass(frozen=True)
class Mailbox:
    scheme: str  # imap | imaps | pop3 | pop3s
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        """Parse MAIL_BOUNCE_MAILBOX; raises ValueError naming what is wrong."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        ports = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
        if scheme not in ports:
            raise ValueError(f"MAIL_BOUNCE_MAILBOX must start with imap://, imaps://, pop3:// or pop3s://, not {url.split(':', 1)[0]!r}")
        if not parts.hostname or not parts.username:
            raise ValueError("MAIL_BOUNCE_MAILBOX needs a user and a host: imaps://user:password@host/INBOX")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return cls(scheme, parts.hostname, parts.port or ports[scheme], unquote(parts.username),
                   unquote(parts.password or ""), folder)

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}"


@dataclass
class ReadCounts:
    read: int = 0
    suppressed: int = 0
    counted: int = 0
    duplicate: int = 0
    ignored: int = 0  # delay warnings, success notices
    review: int = 0  # malformed, or about no send cabos knows


def process(session: Session, raw: bytes, now: datetime, policy: Policy, source: str = "dsn") -> str:
    """Apply one bounce message; the outcome: suppressed, counted, duplicate, ignored or review. Never raises on bad input."""
    try:
        reading = dsn.parse(raw)
    except dsn.Malformed as exc:
        keep_for_review(session, source, str(exc), raw, now)
        return "review"
    if not reading.reports:
        log.info("%s: nothing to do (%s)", source, reading.note or "no failed recipient")
        return "ignored"
    outcomes = [record(session, source, report, now, policy) for report in reading.reports]
    if "unknown" in outcomes:
        message_id = reading.reports[0].message_id
        keep_for_review(session, source, f"no email sent by cabos has the Message-ID {message_id[:150]}", raw, now,
                        reading.recipient)
        return "review"
    for outcome in ("suppressed", "counted", "duplicate"):
        if outcome in outcomes:
            return outcome
    return "ignored"


def read(mailbox: Mailbox, handle: Callable[[bytes], str], timeout: float = 30,
         context: ssl.SSLContext | None = None) -> ReadCounts:
    """Read every new message, call ``handle(raw)`` (which commits its outcome), then mark it read."""
    counts = ReadCounts()
    reader = _imap if mailbox.scheme.startswith("imap") else _pop3
    for raw, done in reader(mailbox, timeout, context or ssl.create_default_context()):
        outcome = handle(raw)
        done()
        counts.read += 1
        setattr(counts, outcome, getattr(counts, outcome) + 1)
    return counts


def _imap(mailbox: Mailbox, timeout: float, context: ssl.SSLContext) -> Iterator[tuple[bytes, Callable[[], None]]]:
    conn: Any
    if mailbox.scheme == "imaps":
        conn = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=context, timeout=timeout)
    else:
        conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=timeout)
        if "STARTTLS" in conn.capabilities:
            conn.starttls(context)
    try:
        conn.login(mailbox.user, mailbox.password)
        status, _ = conn.select(_quote(mailbox.folder))
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open the folder {mailbox.folder!r}")
        status, data = conn.uid("SEARCH", "UNSEEN")
        uids = data[0].split() if status == "OK" and data and data[0] else []
        for uid in uids:
            status, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None) if status == "OK" else None
            if raw is None:
                log.warning("bounce mailbox: message %s could not be fetched", uid.decode())
                continue
            yield raw, lambda uid=uid: conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        conn.logout()
    finally:
        try:
            conn.shutdown()
        except OSError:
            pass


def _pop3(mailbox: Mailbox, timeout: float, context: ssl.SSLContext) -> Iterator[tuple[bytes, Callable[[], None]]]:
    conn: poplib.POP3
    if mailbox.scheme == "pop3s":
        conn = poplib.POP3_SSL(mailbox.host, mailbox.port, timeout=timeout, context=context)
    else:
        conn = poplib.POP3(mailbox.host, mailbox.port, timeout=timeout)
    try:
        conn.user(mailbox.user)
        conn.pass_(mailbox.password)
        count, _ = conn.stat()
        for number in range(1, count + 1):
            _, lines, _ = conn.retr(number)
            yield b"\r\n".join(lines) + b"\r\n", lambda number=number: conn.dele(number)
        conn.quit()  # deletions take effect only now
    finally:
        conn.close()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
