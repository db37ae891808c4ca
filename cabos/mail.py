"""The one way cabos sends email: ``send(message)`` through the configured backend.

Two backends: ``smtp`` (MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS/SSL, credentials)
and ``folder`` (writes one .eml file per message into MAIL_FOLDER; the
development default, so nothing leaves the machine by accident).

Failures are typed so that callers can decide: a ``TemporaryMailError`` (a
4xx answer, a refused or dropped connection, a timeout) is worth retrying;
a ``PermanentMailError`` (a 5xx answer for the recipient or the message)
is not, and the address should be suppressed.
"""

from __future__ import annotations

import functools
import logging
import os
import smtplib
import ssl
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

from cabos.mail_auth import DkimSigner
from cabos.mail_mime import Outgoing, alternative

log = logging.getLogger("cabos.mail")


# The header a provider hands back in its webhooks (see cabos.nurture.bounces.webhooks).
PROVIDER_HEADERS = {"postmark": "X-PM-Metadata-cabos-message-id", "brevo": "X-Mailin-custom"}


class MailError(Exception):
    """Sending failed; ``temporary`` says whether trying again later may work."""

    temporary: bool = True

    def __init__(self, message: str, code: int | None = None,
                 recipients: dict[str, tuple[int, str]] | None = None, not_sent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.recipients = recipients or {}
        # True when the server surely did not take the message (it never reached DATA): safe to retry.
        self.not_sent = not_sent


class TemporaryMailError(MailError):
    """4xx answers, connection refused or lost, timeouts: retry later."""

    temporary = True


class PermanentMailError(MailError):
    """5xx answers for the recipient or the message: do not retry."""

    temporary = False


# What can be sent: a message built with the email package, or one written straight to bytes (bulk mail).
Message = EmailMessage | Outgoing


def _message_id(message: Message) -> str:
    return message.message_id if isinstance(message, Outgoing) else str(message["Message-ID"])


class Connection(Protocol):
    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Connection: ...

    def __exit__(self, *exc: object) -> None: ...


class Backend(Protocol):
    def send(self, message: Message) -> None: ...

    def connection(self) -> Connection: ...


@dataclass(frozen=True)
class FolderBackend:
    """Writes each message as an .eml file (development, tests)."""

    folder: Path

    def send(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = _message_id(message).strip("<>").split("@", 1)[0]
        # Written under a temporary name and renamed, so a reader never sees half a message.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.data if isinstance(message, Outgoing) else message.as_bytes())
        os.replace(tmp, self.folder / f"{stem}.eml")

    def connection(self) -> FolderBackend:
        return self  # nothing to keep open

    def close(self) -> None:
        pass

    def __enter__(self) -> FolderBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Staged:
    """Remembers how far the current message got, so a dropped connection can tell "surely not sent"."""

    stage = ""

    def mail(self, *args: Any, **kwargs: Any) -> Any:
        self.stage = "mail"
        return super().mail(*args, **kwargs)  # type: ignore[misc]

    def data(self, *args: Any, **kwargs: Any) -> Any:
        self.stage = "data"  # from here on the server may have the message
        return super().data(*args, **kwargs)  # type: ignore[misc]


class _SMTP(_Staged, smtplib.SMTP):
    pass


class _SMTP_SSL(_Staged, smtplib.SMTP_SSL):
    pass


@dataclass(frozen=True)
class SmtpBackend:
    """Delivers through an SMTP server; ``connection()`` keeps one conversation open for many messages."""

    host: str
    port: int
    use_tls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30
    per_connection: int = 100
    rate: float = 0
    dkim: DkimSigner | None = None  # sign every message (MAIL_DKIM_*)

    def send(self, message: Message) -> None:
        with self.connection() as conn:
            conn.send(message)

    def connection(self) -> SmtpConnection:
        return SmtpConnection(self)

    def _connect(self) -> _SMTP:
        smtp: _SMTP
        if self.use_ssl:
            smtp = _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=_tls_context())  # type: ignore[assignment]
        else:
            smtp = _SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls and not self.use_ssl:
                smtp.starttls(context=_tls_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


class SmtpConnection:
    """One SMTP conversation reused for a batch: reconnects after MAIL_PER_CONNECTION messages or an
    error, and keeps to MAIL_RATE messages per second. Close it (or use it as a context manager)."""

    def __init__(self, backend: SmtpBackend) -> None:
        self.backend = backend
        self._smtp: _SMTP | None = None
        self._used = 0  # messages on the current connection
        self._next_at = 0.0  # monotonic time the next message may start (rate limit)
        self.connections = 0  # how many conversations this object opened (for tests and benchmarks)

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, message: Message) -> None:
        self._wait_for_rate()
        if self._smtp is not None and self._used >= self.backend.per_connection:
            self.close()
        reused = self._smtp is not None
        try:
            self._send_once(message)
        except TemporaryMailError as exc:
            if not (reused and exc.not_sent and exc.code is None):
                raise
            # The server hung up on an idle connection before this message started: one fresh try.
            log.info("SMTP connection to %s dropped between messages; reconnecting", self.backend.host)
            self._send_once(message)

    def _wait_for_rate(self) -> None:
        if self.backend.rate <= 0:
            return
        now = time.monotonic()
        if self._next_at > now:
            time.sleep(self._next_at - now)
        self._next_at = max(now, self._next_at) + 1 / self.backend.rate

    def _send_once(self, message: Message) -> None:
        backend = self.backend
        if self._smtp is None:
            try:
                self._smtp = backend._connect()
            except smtplib.SMTPResponseException as exc:
                raise _response_error(exc, not_sent=True) from exc
            except (smtplib.SMTPException, OSError) as exc:
                raise TemporaryMailError(f"cannot talk to {backend.host}:{backend.port}: {exc}",
                                         not_sent=True) from exc
            self._used = 0
            self.connections += 1
        smtp = self._smtp
        smtp.stage = ""
        try:
            if isinstance(message, Outgoing):
                # Written once, sent as it is (signed first if DKIM is on).
                data = message.data if backend.dkim is None else backend.dkim.sign(message.data)
                options = ("SMTPUTF8", "BODY=8BITMIME") if message.international else ()
                refused = smtp.sendmail(message.sender, list(message.recipients), data, mail_options=options)
            elif backend.dkim is None:
                refused = smtp.send_message(message)
            else:
                # Signed bytes go out as they are: re-flattening the message could change what was signed.
                sender, recipients = _envelope(message)
                del message["Bcc"]  # as send_message does: never in the data
                data = backend.dkim.sign(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
                refused = smtp.sendmail(sender, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            # smtplib reset the transaction: the connection stays usable.
            raise _classify("every recipient was refused", exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused... A 421 means the server is closing: start afresh next time.
            if exc.smtp_code == 421:
                self._drop()
            raise _response_error(exc, not_sent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Dropped connection, timeout, TLS failure: before DATA nothing was handed over.
            self._drop()
            raise TemporaryMailError(f"lost the connection to {backend.host}:{backend.port}: {exc}",
                                     not_sent=smtp.stage != "data") from exc
        finally:
            self._used += 1
        if refused:
            # Some recipients got it; the others are reported, not retried (that would duplicate).
            log.warning("mail %s refused for %s", _message_id(message), sorted(refused))

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """MAIL FROM and RCPT TO as ``smtplib.send_message`` would take them from the headers."""
    sender = getaddresses([str(message["Sender"] or message["From"])])[0][1]
    recipients = [address for _, address in getaddresses(
        [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]) if address]
    return sender, recipients


def _response_error(exc: smtplib.SMTPResponseException, not_sent: bool) -> MailError:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    cls = PermanentMailError if 500 <= exc.smtp_code < 600 and not isinstance(
        exc, smtplib.SMTPAuthenticationError) else TemporaryMailError
    return cls(f"SMTP server answered {exc.smtp_code} {text}", exc.smtp_code, not_sent=not_sent)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Built once, and only if TLS is used: loading the CA bundle costs ~100 ms per call."""
    return ssl.create_default_context()


def _classify(what: str, recipients: dict[str, tuple[int, bytes]]) -> MailError:
    decoded = {r: (code, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg))
               for r, (code, msg) in recipients.items()}
    codes = [code for code, _ in decoded.values()]
    detail = "; ".join(f"{r}: {c} {m}" for r, (c, m) in decoded.items())
    if codes and all(500 <= c < 600 for c in codes):
        return PermanentMailError(f"{what}: {detail}", max(codes), decoded, not_sent=True)
    return TemporaryMailError(f"{what}: {detail}", min(codes) if codes else None, decoded, not_sent=True)


def make_backend(config: dict[str, Any], instance_path: str | Path) -> Backend:
    """The backend the settings ask for."""
    kind = str(config["MAIL_BACKEND"]).lower()
    if kind == "folder":
        return FolderBackend(Path(config["MAIL_FOLDER"] or Path(instance_path) / "mail"))
    if kind == "smtp":
        return SmtpBackend(
            host=config["MAIL_SERVER"], port=int(config["MAIL_PORT"]),
            use_tls=bool(config["MAIL_USE_TLS"]), use_ssl=bool(config["MAIL_USE_SSL"]),
            username=config["MAIL_USERNAME"] or None, password=config["MAIL_PASSWORD"] or None,
            timeout=float(config["MAIL_TIMEOUT"]),
            per_connection=max(1, int(config["MAIL_PER_CONNECTION"])), rate=float(config["MAIL_RATE"] or 0),
            dkim=DkimSigner.from_config(config),
        )
    raise ValueError(f"MAIL_BACKEND must be 'smtp' or 'folder', not {kind!r}")


def init_app(app: Flask) -> None:
    app.extensions["cabos.mail"] = make_backend(app.config, app.instance_path)


def prepare(message: EmailMessage, app: Flask | None = None) -> str:
    """Fill in From, Date and Message-ID where missing; return the Message-ID."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if message["From"] is None:
        message["From"] = app.config["MAIL_FROM"]
    if message["Date"] is None:
        message["Date"] = formatdate(usegmt=True)
    if message["Message-ID"] is None:
        domain = str(message["From"]).rsplit("@", 1)[-1].strip("> ") or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
    message_id = str(message["Message-ID"])
    # Providers that replace the Message-ID hand back a header of theirs in their bounce webhooks.
    header = PROVIDER_HEADERS.get(str(app.config.get("MAIL_PROVIDER") or "").lower())
    if header and message[header] is None:
        message[header] = message_id
    return message_id


def outgoing(app: Flask, *, to: Any, subject: str, text: str, html: str, message_id: str,
             headers: list[tuple[str, str]] | None = None) -> Outgoing:
    """A bulk message written to bytes, with what ``prepare`` would add: From, Date, the provider's header."""
    headers = list(headers or [])
    provider = PROVIDER_HEADERS.get(str(app.config.get("MAIL_PROVIDER") or "").lower())
    if provider:
        headers.append((provider, message_id))
    return alternative(sender=str(app.config["MAIL_FROM"]), to=to, subject=subject, text=text, html=html,
                       headers=headers, message_id=message_id)


def connection(app: Flask | None = None) -> Connection:
    """A connection for a batch of messages (SMTP: one conversation, reused); close it when done."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions["cabos.mail"].connection()  # type: ignore[no-any-return]


def send(message: Message, app: Flask | None = None, through: Connection | None = None) -> str:
    """Send ``message`` (From, Date and Message-ID filled in if missing); return its Message-ID.

    An ``Outgoing`` message is complete already (``outgoing`` builds it). ``through`` is a
    connection from ``connection()`` to reuse; without it, one is opened for this message.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    message_id = message.message_id if isinstance(message, Outgoing) else prepare(message, app)
    if through is not None:
        through.send(message)
    else:
        app.extensions["cabos.mail"].send(message)
    return message_id
