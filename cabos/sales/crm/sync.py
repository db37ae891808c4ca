"""The two directions: handoffs out to the CRMs through the sales outbox, deal changes back as outcomes.

Out: a new handoff queues one ``sales_deliveries`` row per CRM named in
crm.yml (kind ``crm``, unique ``dedupe_key``), in the handoff's transaction.
The worker claims due rows like webhooks (``webhooks.claim_due``), pushes each
through its connector and records the attempt: a 429 waits as long as the CRM
asked (and pauses that CRM for the rest of the run), a temporary failure
retries with backoff, a refusal (token, pipeline, field) fails the row at once
with the CRM's words. The ids made are kept on ``crm_links`` as they come, and
every record is searched before it is created, so a retry never duplicates.

Back: ``poll`` reads the deals changed since the stored cursor and records won
and lost deals as outcomes with ``record_outcome`` (the dashboard's source). A
deal cabos did not push is logged and skipped.

Erase: when a contact is erased, the person and the note are deleted in every
CRM they were pushed to (an ``crm.erase`` row holding only the CRM's ids).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.db import session_scope, utcnow
from cabos.intent.rules import current_rules
from cabos.sales import webhooks
from cabos.sales.brief import Brief, compose
from cabos.sales.crm.base import Connector, CrmError, DealChange, Ids, Push
from cabos.sales.crm.hubspot import HubSpot
from cabos.sales.crm.mapping import CrmMapping
from cabos.sales.crm.models import CrmCursor, CrmLink
from cabos.sales.crm.pipedrive import Pipedrive
from cabos.sales.crm.salesforce import Salesforce
from cabos.sales.models import SENDING, Delivery, Handoff
from cabos.sales.notify import staff_url
from cabos.sales.outcomes import OutcomeError, OutcomeInput, record_outcome
from cabos.sales.policy import policy_of

log = logging.getLogger("cabos.sales.crm")
CONNECTORS: dict[str, type[Connector]] = {c.name: c for c in (HubSpot, Pipedrive, Salesforce)}
FREE_MAIL = frozenset({"gmail.com", "googlemail.com", "hotmail.com", "hotmail.es", "outlook.com", "outlook.es",
                       "live.com", "yahoo.com", "yahoo.es", "icloud.com", "me.com", "proton.me", "protonmail.com",
                       "gmx.com", "aol.com", "telefonica.net", "movistar.es"})
GIVE_UP = 10**6  # attempts value of a row failed for good (as handoff emails do)


def mappings() -> dict[str, CrmMapping]:
    """The CRMs crm.yml names, with their mapping (none without the file)."""
    return dict(current_library().sections.get("crm") or {})


def connector(name: str, config: Mapping[str, Any] | None = None, mapping: CrmMapping | None = None) -> Connector:
    return CONNECTORS[name](config if config is not None else current_app.config,
                            mapping or mappings().get(name) or CrmMapping(name))


# --- out: queue -----------------------------------------------------------------------------------


def domain_of(email: str) -> str:
    domain = email.rsplit("@", 1)[-1].lower()
    return "" if domain in FREE_MAIL else domain


def deal_name(contact: Contact, handoff: Handoff) -> str:
    """The deal's title, fixed when queued: no personal name in it, and the handoff's number to find it by."""
    return f"{contact.company or domain_of(contact.email) or 'cabos'} · cabos #{handoff.id}"[:200]


def enqueue_push(session: Session, handoff: Handoff, crm: str, now: datetime) -> Delivery | None:
    """Queue the push of ``handoff`` to ``crm`` unless it is queued already (one row per handoff×CRM)."""
    key = f"crm:{crm}:push:{handoff.id}"
    if session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key)) is not None:
        return None
    contact = session.get(Contact, handoff.contact_id)
    if contact is None:
        return None
    row = Delivery(kind="crm", event="crm.push", handoff_id=handoff.id, contact_id=contact.id, target=crm,
                   payload={"deal_name": deal_name(contact, handoff)}, created_at=now, next_attempt_at=now,
                   dedupe_key=key)
    try:
        with session.begin_nested():  # another process may be queueing the same push right now
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def on_handoff_created(sender: Any, handoff: Handoff, session: Session, **_kwargs: Any) -> None:
    for name in mappings():
        enqueue_push(session, handoff, name, handoff.created_at)


def on_contact_erasing(sender: Any, session: Session, contact_id: int | None, **_kwargs: Any) -> None:
    """Before a contact's rows go: queue the deletion of their person and note in each CRM."""
    if contact_id is None:
        return
    for link in session.scalars(select(CrmLink).where(CrmLink.contact_id == contact_id).order_by(CrmLink.id)):
        if not (link.person_id or link.note_id):
            continue
        key = f"crm:{link.crm}:erase:{link.id}"
        if session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key)) is None:
            now = utcnow()
            session.add(Delivery(kind="crm", event="crm.erase", handoff_id=None, contact_id=None, target=link.crm,
                                 payload={"ids": {"person": link.person_id, "note": link.note_id}},
                                 created_at=now, next_attempt_at=now, dedupe_key=key))
    session.flush()


# --- out: what is pushed --------------------------------------------------------------------------


def _values(contact: Contact, handoff: Handoff, brief: Brief, url: str) -> dict[str, Any]:
    first, _sep, last = (contact.name or "").strip().partition(" ")
    values: dict[str, Any] = {
        "email": contact.email, "name": contact.name, "first_name": first, "last_name": last.strip(),
        "company": contact.company, "role": contact.role, "company_size": contact.company_size,
        "country": contact.country, "problem": brief.problems[0].name if brief.problems else handoff.top_problem,
        "grade": handoff.grade, "score": round(handoff.score, 2), "trail_url": url}
    values.update({f"custom.{k}": v for k, v in (contact.custom or {}).items()})
    return values


def _mapped(fields: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    return {theirs: values[ours] for theirs, ours in fields.items() if values.get(ours) not in (None, "")}


def note_lines(contact: Contact, handoff: Handoff, brief: Brief, url: str) -> list[tuple[str, list[str]]]:
    """The brief as (heading, lines): why now, fit, problems and what they read, questions, the trail's link."""
    why = [brief.switch.reason] if brief.switch is not None and brief.switch.reason else []
    why += [brief.mode_reason] if brief.mode_reason else []
    problems = [f"{p.name} ({round(p.share * 100)} %): " + "; ".join(r.title for r in p.readings[:4])
                for p in brief.problems]
    questions = [q for p in brief.problems for q in p.questions]
    return [
        (_("Why now"), why or [_("Handed to sales by cabos (%(reason)s).", reason=handoff.reason)]),
        (_("Fit"), [f"{_('Grade')} {handoff.grade or '—'}" + (f": {brief.fit_reason}" if brief.fit_reason else "")]),
        (_("Problems and what they read"), problems),
        (_("Questions to ask"), questions),
        (_("The whole trail on cabos"), [url]),
    ]


def build_push(session: Session, delivery: Delivery, handoff: Handoff, contact: Contact, mapping: CrmMapping,
               now: datetime) -> Push:
    brief = compose(session, contact, current_library(), current_rules(), now)
    url = staff_url(f"/staff/contacts/{contact.id}")
    values = _values(contact, handoff, brief, url)
    sections = [(h, lines) for h, lines in note_lines(contact, handoff, brief, url) if lines]
    title = _("cabos brief: %(who)s", who=contact.name or contact.email)
    text = "\n\n".join(f"{h}\n" + "\n".join(f"- {line}" for line in lines) for h, lines in sections)
    html = "".join(f"<p><strong>{escape(h)}</strong></p><ul>" +
                   "".join(f'<li><a href="{escape(line)}">{escape(line)}</a></li>' if line == url
                           else f"<li>{escape(line)}</li>" for line in lines) + "</ul>" for h, lines in sections)
    return Push(handoff_id=handoff.id, email=contact.email, first_name=values["first_name"],
                last_name=values["last_name"], company=contact.company or "", domain=domain_of(contact.email),
                deal_name=str(delivery.payload.get("deal_name") or deal_name(contact, handoff)),
                note_title=title, note_text=f"{title}\n\n{text}", note_html=f"<p>{escape(title)}</p>{html}",
                created_at=handoff.created_at, contact_fields=_mapped(mapping.contact_fields, values),
                company_fields=_mapped(mapping.company_fields, values), deal_fields=_mapped(mapping.deal_fields, values))


def _link(session: Session, crm: str, handoff: Handoff) -> CrmLink:
    link = session.scalar(select(CrmLink).where(CrmLink.crm == crm, CrmLink.handoff_id == handoff.id))
    if link is None:
        link = CrmLink(crm=crm, handoff_id=handoff.id, contact_id=handoff.contact_id)
        try:
            with session.begin_nested():
                session.add(link)
                session.flush()
        except IntegrityError:
            link = session.scalars(select(CrmLink).where(CrmLink.crm == crm, CrmLink.handoff_id == handoff.id)).one()
    return link


def _push(session: Session, delivery: Delivery, crm: Connector, now: datetime) -> str:
    handoff = session.get(Handoff, delivery.handoff_id) if delivery.handoff_id else None
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    if handoff is None or contact is None:
        return "nothing to send (handoff or contact gone)"
    link = _link(session, crm.name, handoff)
    ids = Ids(link.person_id, link.company_id, link.deal_id, link.note_id)
    try:
        crm.push(build_push(session, delivery, handoff, contact, crm.mapping, now), ids)
    finally:  # what was made is kept even when a later step fails: the retry goes on from there
        link.person_id, link.company_id, link.deal_id, link.note_id = ids.person, ids.company, ids.deal, ids.note
    link.pushed_at = now
    return ""


def send(session: Session, delivery: Delivery, config: Mapping[str, Any], now: datetime) -> str:
    """Push or erase one row; raises ``CrmError``; returns a remark for the log (empty when all went as planned)."""
    mapping = mappings().get(delivery.target)
    if mapping is None:
        raise CrmError("config", f"content/crm.yml no longer names {delivery.target}",
                       fix=f"add a {delivery.target} section to content/crm.yml, or leave this row failed")
    if mapping.errors:
        raise CrmError("config", "; ".join(mapping.errors), fix="run `cabos check` and fix content/crm.yml")
    crm = connector(delivery.target, config, mapping)
    if crm.missing():
        raise CrmError("auth", f"{crm.label}: {', '.join('CABOS_' + s for s in crm.missing())} not set",
                       fix="set it in the environment or instance/cabos.toml (docs/crm.md)")
    if delivery.event == "crm.erase":
        crm.erase(Ids(**{k: v for k, v in (delivery.payload.get("ids") or {}).items() if k in ("person", "note")}))
        return ""
    return _push(session, delivery, crm, now)


def deliver_due(app: Flask, now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Send the CRM rows that are due (each in its own transaction); counts by result."""
    with app.app_context():
        now = now or utcnow()
        counts = {"delivered": 0, "retry": 0, "failed": 0}
        with session_scope(app) as session:
            ids = webhooks.claim_due(session, now, limit, kinds=("crm",))
        paused: dict[str, datetime] = {}  # CRM -> when it may be asked again (after a 429)
        for delivery_id in ids:
            with session_scope(app) as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is None or delivery.status != "pending":
                    continue
                if delivery.target in paused:
                    delivery.next_attempt_at = paused[delivery.target]
                    counts["retry"] += 1
                    continue
                # Committed before the push: if this process stops half-way, the deliveries page
                # shows the row in doubt until the claim ends and the next push finds what was made.
                delivery.last_error = f"{SENDING} {now:%Y-%m-%d %H:%M:%S} UTC: {delivery.last_error}"[:500]
            with session_scope(app) as session:
                delivery = session.get(Delivery, delivery_id)
                assert delivery is not None
                result = _attempt(session, delivery, app.config, now, paused)
                counts[result] += 1
        return counts


def _attempt(session: Session, delivery: Delivery, config: Mapping[str, Any], now: datetime,
             paused: dict[str, datetime]) -> str:
    max_attempts = int(config["SALES_WEBHOOK_MAX_ATTEMPTS"])
    try:
        remark = send(session, delivery, config, now)  # a failed push keeps (commits) the ids it made
    except CrmError as exc:
        log.warning("crm %s to %s (delivery %s): %s", delivery.event, delivery.target, delivery.id, exc.words())
        if exc.kind == "rate":
            wait = timedelta(seconds=max(exc.retry_after or 1.0, 1.0))
            delivery.attempts += 1
            delivery.last_attempt_at, delivery.last_status, delivery.last_error = now, exc.status, exc.words()[:500]
            delivery.next_attempt_at = paused[delivery.target] = now + wait
            return "retry"
        if exc.permanent:
            delivery.attempts = max(delivery.attempts, GIVE_UP - 1)
        return webhooks.record_attempt(delivery, False, exc.status, exc.words(), now,
                                       GIVE_UP if exc.permanent else max_attempts)
    return webhooks.record_attempt(delivery, True, None, remark, now, max_attempts)


# --- back: deal changes -------------------------------------------------------------------------


def apply_change(session: Session, crm: Connector, change: DealChange, now: datetime) -> str:
    """Record a won or lost deal on its handoff; returns what happened (won, lost, unknown, skipped, refused)."""
    link = session.scalar(select(CrmLink).where(CrmLink.crm == crm.name, CrmLink.deal_id == change.deal_id))
    if link is None:
        log.info("crm %s: deal %s is not one cabos pushed (or its contact was erased): skipped", crm.name,
                 change.deal_id)
        return "unknown"
    handoff = session.get(Handoff, link.handoff_id)
    if change.status not in ("won", "lost") or handoff is None or not handoff.is_open:
        return "skipped"
    policy = policy_of(current_library())
    if change.status == "won":
        data = OutcomeInput("won", note=_("Won in %(crm)s", crm=crm.label), revenue_cents=change.amount_cents,
                            currency=(change.currency or policy.currency).upper(), won_on=change.closed_on)
    else:
        reason = crm.mapping.lost_reason(change.reason, tuple(policy.reasons.get("lost", ())))
        data = OutcomeInput("lost", reason=reason,
                            note=_("Lost in %(crm)s: %(reason)s", crm=crm.label, reason=change.reason or "—"))
    try:
        record_outcome(session, handoff, data, None, now)
    except OutcomeError as exc:  # refused before anything was written (a won deal without an amount)
        log.warning("crm %s: deal %s (handoff %s) not recorded: %s", crm.name, change.deal_id, handoff.id, exc)
        return "refused"
    return change.status


def poll(app: Flask, name: str, since: datetime | None = None, now: datetime | None = None) -> dict[str, int]:
    """Read the deals changed in ``name`` since the stored cursor (or ``since``) and record the outcomes."""
    counts = {"won": 0, "lost": 0, "unknown": 0, "skipped": 0, "refused": 0}
    with app.app_context():
        now = now or utcnow()
        crm = connector(name, app.config)
        with session_scope(app) as session:
            cursor = session.get(CrmCursor, name)
            if since is not None:
                position = crm.cursor_at(since)
            elif cursor is not None and cursor.position:
                position = cursor.position
            else:  # never polled: from the first push on
                first = session.scalar(select(func.min(CrmLink.created_at)).where(CrmLink.crm == name))
                position = crm.cursor_at(first or now)
        for change in crm.changes(position):
            with session_scope(app) as session:
                counts[apply_change(session, crm, change, now)] += 1
                _advance(session, name, change.position, now)
        with session_scope(app) as session:
            _advance(session, name, position, now)
    return counts


def _advance(session: Session, name: str, position: str, now: datetime) -> None:
    cursor = session.get(CrmCursor, name)
    if cursor is None:
        try:
            with session.begin_nested():
                session.add(CrmCursor(crm=name, position=position, updated_at=now))
                session.flush()
            return
        except IntegrityError:
            cursor = session.get(CrmCursor, name)
    assert cursor is not None
    if _later(position, cursor.position):
        cursor.position = position
    cursor.updated_at = now


def _later(a: str, b: str) -> bool:
    """Cursor values of one CRM compare as numbers (epoch ms) or as fixed-format times."""
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b


def backfill(app: Flask, since: datetime, now: datetime | None = None) -> int:
    """Queue a push for every handoff made since ``since`` that has none yet, for each CRM; returns how many."""
    queued = 0
    with app.app_context():
        now = now or utcnow()
        with session_scope(app) as session:
            names = list(mappings())
            for handoff in session.scalars(select(Handoff).where(Handoff.created_at >= since).order_by(Handoff.id)):
                for name in names:
                    queued += enqueue_push(session, handoff, name, now) is not None
    return queued
