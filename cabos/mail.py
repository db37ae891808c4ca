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
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

log = logging.getLogger("cabos.mail")


class MailError(Exception):
    """Sending failed; ``temporary`` says whether trying again later may work."""

    temporary: bool = True

    def __init__(self, message: str, code: int | None = None,
                 recipients: dict[str, tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.recipients = recipients or {}


class TemporaryMailError(MailError):
    """4xx answers, connection refused or lost, timeouts: retry later."""

    temporary = True


class PermanentMailError(MailError):
    """5xx answers for the recipient or the message: do not retry."""

    temporary = False


class Backend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class FolderBackend:
    """Writes each message as an .eml file (development, tests)."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = str(message["Message-ID"]).strip("<>").split("@", 1)[0]
        # Written under a temporary name and renamed, so a reader never sees half a message.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes())
        os.replace(tmp, self.folder / f"{stem}.eml")


@dataclass(frozen=True)
class SmtpBackend:
    """Delivers through an SMTP server; one connection per message."""

    host: str
    port: int
    use_tls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30

    def send(self, message: EmailMessage) -> None:
        try:
            with self._connect() as smtp:
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _classify("every recipient was refused", exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, authentication failed...
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)
            cls = PermanentMailError if 500 <= exc.smtp_code < 600 and not isinstance(
                exc, smtplib.SMTPAuthenticationError) else TemporaryMailError
            raise cls(f"SMTP server answered {exc.smtp_code} {text}", exc.smtp_code) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused or dropped, timeouts, TLS failures: the server may be back later.
            raise TemporaryMailError(f"cannot talk to {self.host}:{self.port}: {exc}") from exc
        if refused:
            # Some recipients got it; the others are reported, not retried (that would duplicate).
            log.warning("mail %s refused for %s", message["Message-ID"], sorted(refused))

    def _connect(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=_tls_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls and not self.use_ssl:
                smtp.starttls(context=_tls_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


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
        return PermanentMailError(f"{what}: {detail}", max(codes), decoded)
    return TemporaryMailError(f"{what}: {detail}", min(codes) if codes else None, decoded)


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
        )
    raise ValueError(f"MAIL_BACKEND must be 'smtp' or 'folder', not {kind!r}")


def init_app(app: Flask) -> None:
    app.extensions["cabos.mail"] = make_backend(app.config, app.instance_path)


def send(message: EmailMessage, app: Flask | None = None) -> str:
    """Send ``message`` (From, Date and Message-ID filled in if missing); return its Message-ID."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if message["From"] is None:
        message["From"] = app.config["MAIL_FROM"]
    if message["Date"] is None:
        message["Date"] = formatdate(usegmt=True)
    if message["Message-ID"] is None:
        domain = str(message["From"]).rsplit("@", 1)[-1].strip("> ") or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
    app.extensions["cabos.mail"].send(message)
    return str(message["Message-ID"])
