"""The REST API for CRMs and tools: contacts, trails, handoffs, outcomes. JSON, bearer tokens.

``Authorization: Bearer <token>`` (``cabos users token EMAIL``); a token acts
as its user, with the user's role and scope: a salesperson's token sees only
their own handoffs and contacts. Cookies do not authenticate here, so the
routes need no CSRF token. Described at ``/api/openapi.json``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import select

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.content.urls import site_url
from cabos.db import get_session, utcnow
from cabos.intent import current_state
from cabos.intent.rules import current_rules
from cabos.sales import brief as briefs
from cabos.sales import activities, queue, sla, trail
from cabos.sales.forms import MAX_PHONE, clean_phone
from cabos.sales.lifecycle import stages
from cabos.sales.models import Activity, Handoff, HandoffOutcome
from cabos.sales.openapi import document
from cabos.sales.outcomes import OutcomeError, OutcomeInput, try_record
from cabos.sales.webhooks import contact_json, handoff_json
from cabos.staff.auth import current_staff, staff_required
from cabos.staff.models import StaffUser

TRAIL_MAX = 500


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        abort(400, f"`{name}` must be an integer from {low} to {high}")
    return int(raw)


def _contact(contact_id: int) -> Contact:
    session = get_session()
    contact = session.get(Contact, contact_id)
    if contact is None or not queue.may_open(session, current_staff(), contact_id):
        abort(404, "No such contact (or not one of yours).")
    return contact


@staff_required()
def list_contacts() -> Response:
    user = current_staff()
    page = _int_arg("page", 1, 1, 100000)
    query = select(Contact).order_by(Contact.id)
    if user.role == "sales":
        query = query.where(Contact.id.in_(select(Handoff.contact_id).where(Handoff.assigned_to == user.id)))
    found = list(get_session().scalars(query.offset((page - 1) * 100).limit(101)))
    return jsonify({"contacts": [contact_json(c) for c in found[:100]], "page": page, "more": len(found) > 100})


@staff_required()
def get_contact(contact_id: int) -> Response:
    session = get_session()
    contact = _contact(contact_id)
    now = utcnow()
    rules = current_rules()
    brief = briefs.compose(session, contact, current_library(), rules, now, current_state(session, contact.id, now,
                                                                                           rules))
    user = current_staff()
    query = select(Handoff).where(Handoff.contact_id == contact.id).order_by(Handoff.created_at.desc())
    notes = activities.recent(session, contact.id)
    return jsonify({"contact": contact_json(contact), "brief": briefs.brief_json(brief),
                    "stage": stages(session, [contact.id])[contact.id],
                    "handoffs": [handoff_json(h) for h in session.scalars(queue.visible(query, user))],
                    "activities": [activities.activity_json(a, _authors(notes)) for a in notes]})


@staff_required("sales")
def patch_contact(contact_id: int) -> Response:
    """Change what staff may enter on a contact: the phone (the rest comes from the contact's own forms)."""
    session = get_session()
    contact = _contact(contact_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"phone"}:
        abort(400, "Send a JSON object with the phone only: {\"phone\": \"+34 912 345 678\"} (\"\" clears it)")
    raw = body["phone"]
    phone = clean_phone(raw) if isinstance(raw, str) else None
    if phone is None:
        abort(400, f"`phone` must be a phone number of at most {MAX_PHONE} characters: digits, spaces, "
                   "+ ( ) - . / and an extension (x 12)")
    contact.phone = phone
    session.commit()
    return jsonify(contact_json(contact))


def _authors(notes: list[Activity]) -> dict[int, StaffUser]:
    ids = {a.staff_user_id for a in notes if a.staff_user_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in get_session().scalars(select(StaffUser).where(StaffUser.id.in_(ids)))}


@staff_required()
def list_activities(contact_id: int) -> Response:
    contact = _contact(contact_id)
    notes = activities.recent(get_session(), contact.id, limit=200)
    return jsonify({"activities": [activities.activity_json(a, _authors(notes)) for a in notes]})


@staff_required("sales")
def post_activity(contact_id: int) -> Any:
    session = get_session()
    contact = _contact(contact_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "Send a JSON object: {\"kind\": \"call\", \"body\": \"...\", \"next_step\": \"...\", "
                   "\"due_on\": \"YYYY-MM-DD\"}")
    try:
        due = body.get("due_on")
        if due is not None and not isinstance(due, str):
            raise ValueError("`due_on` must be a date, YYYY-MM-DD")
        data = activities.ActivityInput(kind=str(body.get("kind", ""))[:20], body=str(body.get("body") or ""),
                                        next_step=str(body.get("next_step") or ""),
                                        due_on=date.fromisoformat(due) if due else None)
        now = utcnow()
        activity = activities.record(session, contact, data, current_staff(), now,
                                     sla.local_today(now, current_app.config))
    except (activities.ActivityError, ValueError) as exc:
        session.rollback()
        abort(400, str(exc))
    session.commit()
    return jsonify(activities.activity_json(activity, {current_staff().id: current_staff()})), 201


@staff_required()
def get_trail(contact_id: int) -> Response:
    contact = _contact(contact_id)
    limit = _int_arg("limit", 100, 1, TRAIL_MAX)
    before = request.args.get("before")
    if before and trail.parse_cursor(before) is None:
        abort(400, "`before` must be a cursor from a previous page's `next`")
    page = trail.page(get_session(), contact.id, before, limit)
    library = current_library()
    return jsonify({"events": [trail.event_json(e, library) for v in page.visits for e in v.events],
                    "next": page.next_cursor})


@staff_required()
def list_handoffs() -> Response:
    user = current_staff()
    args = request.args
    for name, allowed in (("status", queue.STATUSES), ("sort", queue.SORTS)):
        if name in args and args[name] not in allowed:
            abort(400, f"`{name}` must be one of {', '.join(allowed)}")
    filters = queue.Filters.from_args(args, may_pick_assignee=user.role != "sales")
    rows, more = queue.rows(get_session(), user, filters, current_rules(), utcnow())
    return jsonify({"handoffs": [{**handoff_json(r.handoff), "overdue": r.overdue, "score_now": round(r.score, 3),
                                  "contact": contact_json(r.contact)} for r in rows],
                    "page": filters.page, "more": more})


def _handoff(handoff_id: int) -> Handoff:
    session = get_session()
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or not queue.may_open(session, current_staff(), handoff.contact_id) \
            or (current_staff().role == "sales" and handoff.assigned_to != current_staff().id):
        abort(404, "No such handoff (or not one of yours).")
    return handoff


@staff_required()
def get_handoff(handoff_id: int) -> Response:
    handoff = _handoff(handoff_id)
    outcomes = get_session().scalars(select(HandoffOutcome).where(HandoffOutcome.handoff_id == handoff.id)
                                     .order_by(HandoffOutcome.occurred_at))
    return jsonify({**handoff_json(handoff), "outcomes": [
        {"kind": o.kind, "reason": o.reason or None, "note": o.note or None, "revenue_cents": o.revenue_cents,
         "currency": o.currency, "won_on": o.won_on.isoformat() if o.won_on else None,
         "occurred_at": o.occurred_at.isoformat(), "by": o.staff_user_id} for o in outcomes]})


@staff_required("sales")
def post_outcome(handoff_id: int) -> Any:
    session = get_session()
    handoff = _handoff(handoff_id)
    if not queue.may_act(current_staff(), handoff):
        abort(404, "No such handoff (or not one of yours).")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "Send a JSON object: {\"kind\": \"won\", \"revenue_cents\": 1250000, ...}")
    try:
        revenue = body.get("revenue_cents")
        if revenue is not None and (not isinstance(revenue, int) or isinstance(revenue, bool)):
            raise OutcomeError("`revenue_cents` must be an integer")
        won_on = date.fromisoformat(body["won_on"]) if isinstance(body.get("won_on"), str) else None
        data = OutcomeInput(kind=str(body.get("kind", ""))[:20], reason=str(body.get("reason") or "")[:200],
                            note=str(body.get("note") or "")[:2000], revenue_cents=revenue,
                            currency=str(body["currency"])[:3] if body.get("currency") else None, won_on=won_on)
    except (OutcomeError, ValueError) as exc:
        abort(400, str(exc))
    refused = try_record(session, handoff, data, current_staff(), utcnow())
    if refused:
        abort(400, refused)
    session.commit()
    return jsonify(handoff_json(handoff)), 201


def openapi_json() -> Response:
    return jsonify(document(site_url()))


def init_app(app: Flask) -> None:
    """Register /api/ (exempt from the form CSRF token: cookies do not authenticate it)."""
    bp = Blueprint("api", __name__, url_prefix="/api")
    bp.add_url_rule("/openapi.json", "openapi", openapi_json, methods=["GET"])
    bp.add_url_rule("/contacts", "contacts", list_contacts, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>", "contact", get_contact, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>", "patch_contact", patch_contact, methods=["PATCH"])
    bp.add_url_rule("/contacts/<int:contact_id>/trail", "trail", get_trail, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>/activities", "activities", list_activities, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>/activities", "add_activity", post_activity, methods=["POST"])
    bp.add_url_rule("/handoffs", "handoffs", list_handoffs, methods=["GET"])
    bp.add_url_rule("/handoffs/<int:handoff_id>", "handoff", get_handoff, methods=["GET"])
    bp.add_url_rule("/handoffs/<int:handoff_id>/outcome", "outcome", post_outcome, methods=["POST"])
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
