"""The sales outbox: CRM webhooks, Slack and Teams alerts and handoff emails, retried with backoff, logged for staff.

Webhooks are POSTed as JSON with a signature a receiver checks:

    X-Cabos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

(reject a timestamp older than a few minutes, compare in constant time).
``X-Cabos-Delivery`` is the delivery id (the same on every retry: deduplicate
on it) and ``X-Cabos-Event`` the event name. A 2xx answer is delivered;
anything else, or no answer within SALES_WEBHOOK_TIMEOUT, is retried after
1, 2, 4, … minutes (capped at 6 hours) up to SALES_WEBHOOK_MAX_ATTEMPTS.
Redirects are not followed.

Rows are claimed before they are sent (``next_attempt_at`` pushed forward
and committed), so two workers never send the same row at the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cabos import mail
from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.db import session_scope, utcnow
from cabos.intent.rules import current_rules
from cabos.sales import alerts, notify
from cabos.sales.brief import brief_json, compose
from cabos.sales.lifecycle import stage_of
from cabos.sales.models import Delivery, Handoff
from cabos.sales.trail import event_json
from cabos.tracking.trail import trail

log = logging.getLogger("cabos.sales.webhooks")
TRAIL_EVENTS = 200  # the newest events sent with a webhook; the API pages through the rest
CLAIM = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
SIGNATURE_HEADER = "X-Cabos-Signature"


def urls(config: Any) -> list[str]:
    return [u for u in str(config.get("SALES_WEBHOOK_URLS") or "").split() if u.startswith(("http://", "https://"))]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, refuse old timestamps."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def contact_json(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, "email": contact.email, "name": contact.name, "company": contact.company,
            "role": contact.role, "company_size": contact.company_size, "country": contact.country,
            "phone": contact.phone, "custom": dict(contact.custom or {}), "created_at": contact.created_at.isoformat()}


def handoff_json(handoff: Handoff) -> dict[str, Any]:
    return {"id": handoff.id, "contact_id": handoff.contact_id, "assigned_to": handoff.assigned_to,
            "status": handoff.status, "reason": handoff.reason, "created_at": handoff.created_at.isoformat(),
            "due_at": handoff.due_at.isoformat(), "grade": handoff.grade, "score": handoff.score,
            "score_at_handoff": handoff.score,
            "top_problem": handoff.top_problem,
            "first_response_at": handoff.first_response_at.isoformat() if handoff.first_response_at else None,
            "outcome_reason": handoff.outcome_reason or None, "revenue_cents": handoff.revenue_cents,
            "currency": handoff.currency, "won_on": handoff.won_on.isoformat() if handoff.won_on else None,
            "closed_at": handoff.closed_at.isoformat() if handoff.closed_at else None,
            "stage": stage_of(handoff.status)}


def payload(session: Session, event: str, handoff: Handoff, contact: Contact, now: datetime,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The webhook body: the event, the handoff, the contact, the brief and the newest trail."""
    library = current_library()
    brief = compose(session, contact, library, current_rules(), now)
    events = trail(session, contact.id, limit=TRAIL_EVENTS)
    return {"event": event, "occurred_at": now.isoformat(), "handoff": handoff_json(handoff),
            "contact": contact_json(contact), "brief": brief_json(brief),
            "trail": [event_json(e, library) for e in events], **(extra or {})}


def enqueue(session: Session, event: str, handoff: Handoff, contact: Contact, now: datetime,
            extra: dict[str, Any] | None = None) -> list[Delivery]:
    """One delivery per configured URL, with the body as of now."""
    targets = urls(current_app.config)
    if not targets:
        return []
    session.flush()
    body = payload(session, event, handoff, contact, now, extra)
    rows = [Delivery(kind="webhook", event=event, handoff_id=handoff.id, contact_id=contact.id, target=url,
                     payload=body, created_at=now, next_attempt_at=now) for url in targets]
    session.add_all(rows)
    return rows


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST and return the status code (HTTP errors are codes, not exceptions)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes after the n-th failed attempt, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _send_webhook(delivery: Delivery, config: Any) -> tuple[bool, int | None, str]:
    secret = config.get("SALES_WEBHOOK_SECRET")
    if not secret:
        return False, None, "SALES_WEBHOOK_SECRET is not set: refusing to send an unsigned webhook"
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cabos-webhooks/1",
               SIGNATURE_HEADER: sign(str(secret), int(time.time()), body),
               "X-Cabos-Event": delivery.event, "X-Cabos-Delivery": str(delivery.id)}
    try:
        status = post(delivery.target, body, headers, float(config["SALES_WEBHOOK_TIMEOUT"]))
    except (OSError, ValueError) as exc:  # refused, reset, timeout, DNS, bad URL
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    return 200 <= status < 300, status, "" if 200 <= status < 300 else f"HTTP {status}"


def _send_email(session: Session, delivery: Delivery, now: datetime, app: Flask) -> tuple[bool, int | None, str]:
    message = notify.message_for(session, delivery, now)
    if message is None:
        return True, None, "nothing to send (handoff reassigned, closed or gone)"
    try:
        mail.send(message, app)
    except mail.PermanentMailError as exc:
        delivery.attempts = 10**6  # give up now: retrying a 5xx only repeats it
        return False, exc.code, str(exc)[:500]
    except mail.MailError as exc:
        return False, exc.code, str(exc)[:500]
    return True, None, ""


def claim_due(session: Session, now: datetime, limit: int,
              kinds: tuple[str, ...] = ("webhook", "email", *alerts.CHANNELS)) -> list[int]:
    """Push the due rows' next attempt forward so no other worker takes them; return their ids.

    ``kinds``: webhooks, emails and Slack/Teams alerts here; CRM rows are claimed by ``sales.crm.sync``.
    """
    ids = list(session.scalars(select(Delivery.id).where(Delivery.status == "pending", Delivery.next_attempt_at <= now,
                                                         Delivery.kind.in_(kinds))
                               .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)))
    claimed = []
    for delivery_id in ids:
        taken = session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending",
                                                       Delivery.next_attempt_at <= now)
                                .values(next_attempt_at=now + CLAIM)).rowcount
        if taken:
            claimed.append(delivery_id)
    return claimed


def deliver_due(app: Flask, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Send what is due (each row in its own transaction); return counts by result."""
    with app.app_context():  # emails render templates in the site's language
        return _deliver_due(app, now or utcnow(), limit)


def _deliver_due(app: Flask, now: datetime, limit: int) -> dict[str, int]:
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    with session_scope(app) as session:
        ids = claim_due(session, now, limit)
    for delivery_id in ids:
        with session_scope(app) as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                continue
            if delivery.kind == "email":
                ok, status, error = _send_email(session, delivery, now, app)
            elif delivery.kind in alerts.CHANNELS:
                ok, status, error = alerts.send(delivery, app.config, post)
            else:
                ok, status, error = _send_webhook(delivery, app.config)
            result = record_attempt(delivery, ok, status, error, now, int(app.config["SALES_WEBHOOK_MAX_ATTEMPTS"]))
            counts[result] += 1
            if result != "delivered":
                log.warning("sales %s %s to %s: attempt %d failed: %s", delivery.kind, delivery.event,
                            delivery.target, delivery.attempts, error)
    return counts


def record_attempt(delivery: Delivery, ok: bool, status: int | None, error: str, now: datetime,
                   max_attempts: int) -> str:
    """Write the attempt on the row: delivered, retry later, or failed for good."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status = status
    delivery.last_error = error[:500]
    if ok:
        delivery.status = "delivered"
        delivery.delivered_at = now
        return "delivered"
    if delivery.attempts >= max_attempts:
        delivery.status = "failed"
        return "failed"
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    return "retry"


def retry_now(delivery: Delivery, now: datetime) -> None:
    """Staff asked to try again: a failed or waiting row becomes due now, with attempts left."""
    if delivery.status == "delivered":
        return
    delivery.status = "pending"
    delivery.next_attempt_at = now
    if delivery.attempts >= 10**6:
        delivery.attempts = 0


def purge(session: Session, before: datetime) -> int:
    """Delete finished deliveries (delivered or failed) created before ``before``; the log stays bounded."""
    return session.execute(delete(Delivery).where(Delivery.status.in_(("delivered", "failed")),
                                                  Delivery.created_at < before)).rowcount or 0


def worker_job(app: Flask, stop: Any) -> None:
    """The worker's job: queue overdue alerts, then deliver what is due (emails, webhooks, alerts)."""
    alerts.queue_overdue(app)
    if not stop():
        deliver_due(app)
