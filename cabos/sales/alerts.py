"""Alerts where salespeople already look: Slack and Microsoft Teams incoming webhooks.

A new handoff and a handoff past its first-response deadline are posted to the
channels set in SALES_SLACK_WEBHOOK_URL and SALES_TEAMS_WEBHOOK_URL, beside the
assignee's email, through the sales outbox (``webhooks.deliver_due``): claimed
before sending, retried with backoff, logged at /staff/deliveries. The secret
URLs stay in the configuration: a delivery row names only ``slack`` or
``teams``, and the body is the channel's documented JSON:

- Slack: ``{"text": …, "blocks": [{"type": "section", "text": {"type": "mrkdwn", …}}]}``
  (https://api.slack.com/messaging/webhooks); Slack answers ``200 ok``.
- Teams (Workflows or the older connectors): a ``message`` with one Adaptive Card
  attachment (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/
  how-to/connectors-using); Teams answers 200 or 202.

The overdue alert (email to the assignee, and the channels) is queued once per
handoff: ``overdue_alerted_at`` is set by a conditional UPDATE, so two workers
scanning at once queue it once. Only handoffs that went overdue within
OVERDUE_WINDOW are alerted: an upgrade or a worker back after a long stop does
not mail every old overdue handoff at once (Today and the queue still list them).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.db import session_scope, utcnow
from cabos.sales import notify
from cabos.sales.models import Delivery, Handoff
from cabos.staff.models import StaffUser

CHANNELS = {"slack": "SALES_SLACK_WEBHOOK_URL", "teams": "SALES_TEAMS_WEBHOOK_URL"}
OVERDUE_BATCH = 200
OVERDUE_WINDOW = timedelta(days=7)


def channels(config: Any) -> list[str]:
    """The channels with a URL configured."""
    return [name for name, key in CHANNELS.items()
            if str(config.get(key) or "").startswith(("https://", "http://"))]


def staff_url(path: str) -> str:
    base = current_app.config.get("SITE_URL") or current_library().site.base_url
    return base.rstrip("/") + path


def _escape_slack(text: str) -> str:
    """Slack's mrkdwn needs &, < and > escaped (its documented three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(title: str, lines: list[str], url: str, link_text: str) -> dict[str, Any]:
    text = "\n".join([f"*{_escape_slack(title)}*", *(_escape_slack(line) for line in lines),
                      f"<{url}|{_escape_slack(link_text)}>"])
    return {"text": f"{title}: {url}", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def teams_body(title: str, lines: list[str], url: str, link_text: str) -> dict[str, Any]:
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4",
            "body": [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
                     *({"type": "TextBlock", "text": line, "wrap": True} for line in lines)],
            "actions": [{"type": "Action.OpenUrl", "title": link_text, "url": url}]}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def message(session: Session, event: str, handoff: Handoff) -> tuple[str, list[str], str] | None:
    """Title, lines and link of the alert; None when the contact is gone."""
    contact = session.get(Contact, handoff.contact_id)
    if contact is None:
        return None
    who = contact.name or contact.email
    if contact.company:
        who += f" ({contact.company})"
    assignee = session.get(StaffUser, handoff.assigned_to) if handoff.assigned_to else None
    owner = assignee.label if assignee else _("nobody")
    problems = {slug: p.name for slug, p in current_library().problems.items()}
    problem = problems.get(handoff.top_problem or "", handoff.top_problem or "")
    if event == "handoff.overdue":
        title = _("Overdue: %(who)s is still waiting for a first answer", who=who)
    else:
        title = _("New contact for sales: %(who)s", who=who)
    lines = [_("Salesperson: %(name)s", name=owner)]
    if handoff.grade:
        lines.append(_("Fit grade %(grade)s · intent score %(score)s", grade=handoff.grade,
                       score=f"{handoff.score:.0f}"))
    if problem:
        lines.append(_("Top problem: %(problem)s", problem=problem))
    return title, lines, staff_url(f"/staff/contacts/{contact.id}")


def enqueue(session: Session, event: str, handoff: Handoff, now: datetime) -> list[Delivery]:
    """One delivery per configured channel, with the channel's JSON body as of now."""
    names = channels(current_app.config)
    if not names:
        return []
    found = message(session, event, handoff)
    if found is None:
        return []
    title, lines, url = found
    link = _("Open the contact")
    rows = [Delivery(kind=name, event=event, handoff_id=handoff.id, contact_id=handoff.contact_id, target=name,
                     payload=(slack_body if name == "slack" else teams_body)(title, lines, url, link),
                     created_at=now, next_attempt_at=now) for name in names]
    session.add_all(rows)
    return rows


def send(delivery: Delivery, config: Any, post: Any) -> tuple[bool, int | None, str]:
    """POST the stored body to the channel's URL from the configuration."""
    url = str(config.get(CHANNELS.get(delivery.kind, "")) or "")
    if not url.startswith(("https://", "http://")):
        return False, None, f"{CHANNELS.get(delivery.kind, delivery.kind)} is not set"
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        status = post(url, body, {"Content-Type": "application/json", "User-Agent": "cabos-alerts/1"},
                      float(config["SALES_WEBHOOK_TIMEOUT"]))
    except (OSError, ValueError) as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    ok = 200 <= status < 300
    return ok, status, "" if ok else f"HTTP {status}"


def overdue_clause(now: datetime):  # type: ignore[no-untyped-def]
    return (Handoff.status == "new") & Handoff.first_response_at.is_(None) & (Handoff.due_at < now) \
        & (Handoff.due_at >= now - OVERDUE_WINDOW) & Handoff.overdue_alerted_at.is_(None)


def queue_overdue(app: Flask, now: datetime | None = None) -> int:
    """Queue the overdue alerts (email, channels) of every handoff that just passed its deadline, once each.

    Returns how many deliveries were queued.
    """
    now = now or utcnow()
    queued = 0
    with app.app_context(), session_scope(app) as session:
        ids = list(session.scalars(select(Handoff.id).where(overdue_clause(now)).order_by(Handoff.due_at)
                                   .limit(OVERDUE_BATCH)))
        for handoff_id in ids:
            taken = session.execute(update(Handoff).where(Handoff.id == handoff_id, overdue_clause(now))
                                    .values(overdue_alerted_at=now)
                                    .execution_options(synchronize_session=False)).rowcount
            handoff = session.get(Handoff, handoff_id) if taken else None
            if handoff is not None:
                queued += notify.enqueue(session, handoff, now, "handoff.overdue") is not None
                queued += len(enqueue(session, "handoff.overdue", handoff, now))
    return queued
