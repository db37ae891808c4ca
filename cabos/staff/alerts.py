"""Security notices to staff: queued with the request's data, emailed by the worker.

A request never talks to the mail server. When an account crosses STAFF_LOGIN_ALERT_AFTER
failed sign-ins within an hour, one ``StaffAlert`` row is queued; the worker's job claims it
(``sent_at`` set first, so two workers never both send) and emails the account's owner and
every active admin.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos import mail
from cabos.db import session_scope, utcnow
from cabos.staff.models import StaffAlert, StaffUser

log = logging.getLogger("cabos.staff")
JOB = "staff-alerts"
FAILED_SIGN_INS = "failed_sign_ins"


def queue_failed_sign_ins(session: Session, email: str, failures: int, now: datetime) -> StaffAlert | None:
    """Queue the notice for the account of ``email`` (nothing for an address that is no account)."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        return None
    alert = StaffAlert(user_id=user.id, kind=FAILED_SIGN_INS, created_at=now, failures=failures)
    session.add(alert)
    return alert


def message(owner: StaffUser, alert: StaffAlert, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = ", ".join(to)
    msg["Subject"] = _("Failed sign-ins to the cabos account %(email)s", email=owner.email)
    msg.set_content(_(
        "%(count)s sign-ins to the cabos account %(email)s failed within an hour (the last at "
        "%(time)s UTC).\n\nIf it was not its owner, someone is guessing its password: the sign-in "
        "is slowed for the addresses trying, and the owner can still sign in from a device they "
        "used before. If the password may be known, reset it: cabos users reset-password %(email)s",
        count=alert.failures, email=owner.email, time=alert.created_at.strftime("%Y-%m-%d %H:%M")))
    return msg


def deliver(app: Flask, now: datetime | None = None) -> int:
    """Send the queued notices; how many were sent."""
    sent = 0
    with app.app_context():
        with session_scope(app) as session:
            ids = list(session.scalars(select(StaffAlert.id).where(StaffAlert.sent_at.is_(None)).limit(100)))
        for alert_id in ids:
            with session_scope(app) as session:
                claimed = session.execute(update(StaffAlert).where(StaffAlert.id == alert_id, StaffAlert.sent_at.is_(None))
                                          .values(sent_at=now or utcnow())).rowcount
                session.commit()
                if not claimed:
                    continue  # another worker has it
                alert = session.get(StaffAlert, alert_id)
                owner = session.get(StaffUser, alert.user_id) if alert else None
                if alert is None or owner is None:
                    continue
                admins = session.scalars(select(StaffUser.email).where(StaffUser.role == "admin",
                                                                       StaffUser.active.is_(True)))
                to = list(dict.fromkeys([owner.email, *admins]))
                try:
                    mail.send(message(owner, alert, to), app)
                    sent += 1
                except Exception:  # the notice is not worth a retry loop: it is logged instead
                    log.exception("staff alert %s to %s could not be sent", alert_id, to)
    return sent


def worker_job(app: Flask, stop: Any) -> None:
    deliver(app)


def init_app(app: Flask) -> None:
    app.extensions.setdefault("cabos.worker_jobs", {})[JOB] = worker_job
