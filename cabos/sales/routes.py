"""Staff pages of sales: the queue (and its CSV), contacts, the contact page, outcomes, deliveries.

Every view is ``staff_required``; every object is looked up through the
viewer's scope, and one outside it is a 404 (the same answer as one that
does not exist), so changing an id in a URL reveals nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from cabos.contacts.capture import clean_text
from cabos.contacts.models import Contact
from cabos.content import Library, current_library
from cabos.db import get_session, utcnow
from cabos.intent import current_state
from cabos.intent.rules import current_rules
from cabos.sales import brief as briefs
from cabos.sales import accounts, activities, handoffs, queue, sla, today, trail, webhooks
from cabos.sales.chart import depth_bar, interest_chart
from cabos.sales.forms import (ActionForm, AssignForm, BookingForm, NoteForm, OutcomeForm, PhoneForm, clean_phone,
                               parse_amount, tel_href)
from cabos.sales.lifecycle import may_hand_off, stage_of
from cabos.sales.models import Activity, Delivery, Handoff, HandoffOutcome
from cabos.sales.outcomes import OutcomeInput, allowed, try_record
from cabos.sales.policy import policy_of
from cabos.staff.accounts import active_sales
from cabos.staff.auth import current_staff, staff_required
from cabos.staff.models import StaffUser
from cabos.staff.sections import add_section, set_home

CONTACT_SORTS = {"recent": (Contact.created_at.desc(), Contact.id.desc()), "name": (Contact.name, Contact.id)}
CONTACTS_PAGE = 50


def now() -> datetime:
    return utcnow()


def problem_names() -> dict[str, str]:
    return {slug: p.name for slug, p in current_library().problems.items()}


def _field_labels(library: Library) -> dict[str, str]:
    """The question each guide form asked, by the answer's stored key ("referencias" → its label)."""
    return {f.name: f.label for guide in library.guides.values() for f in guide.form_fields if f.label}


@staff_required("sales", "marketer")
def queue_page() -> str:
    user = current_staff()
    filters = queue.Filters.from_args(request.args, may_pick_assignee=user.role != "sales")
    found, more = queue.rows(get_session(), user, filters, current_rules(), now())
    people = active_sales(get_session()) if user.role != "sales" else []
    return render_template("sales/queue.html", rows=found, more=more, filters=filters, people=people,
                           problems=problem_names(), sorts=queue.SORTS, statuses=queue.STATUSES,
                           threshold=current_rules().threshold)


@staff_required("sales", "marketer")
def queue_csv() -> Response:
    user = current_staff()
    filters = queue.Filters.from_args(request.args, may_pick_assignee=user.role != "sales")
    found = queue.all_rows(get_session(), user, filters, current_rules(), now())
    stamp = now().strftime("%Y%m%d-%H%M")
    return Response(queue.to_csv(found, problem_names()), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="cabos-queue-{stamp}.csv"'})


@staff_required("sales", "marketer")
def contacts_page() -> str:
    user = current_staff()
    q = clean_text(request.args.get("q", ""), 100)  # no control characters: PostgreSQL refuses NUL
    sort = request.args.get("sort", "recent")
    sort = sort if sort in CONTACT_SORTS else "recent"
    page_raw = request.args.get("page", "1")
    page = max(int(page_raw), 1) if page_raw.isdigit() and len(page_raw) < 6 else 1
    query = select(Contact)
    if user.role == "sales":
        query = query.where(Contact.id.in_(select(Handoff.contact_id).where(Handoff.assigned_to == user.id)))
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(Contact.email).like(like, escape="\\"),
                                func.lower(Contact.name).like(like, escape="\\"),
                                func.lower(Contact.company).like(like, escape="\\")))
    found = list(get_session().scalars(query.order_by(*CONTACT_SORTS[sort])
                                       .offset((page - 1) * CONTACTS_PAGE).limit(CONTACTS_PAGE + 1)))
    return render_template("sales/contacts.html", contacts=found[:CONTACTS_PAGE], more=len(found) > CONTACTS_PAGE,
                           q=q, sort=sort, page=page)


def _visible_contact(contact_id: int) -> Contact:
    session = get_session()
    contact = session.get(Contact, contact_id)
    if contact is None or not queue.may_open(session, current_staff(), contact_id):
        abort(404)
    return contact


def _visible_handoff(handoff_id: int, act: bool = True) -> Handoff:
    session = get_session()
    handoff = session.get(Handoff, handoff_id)
    user = current_staff()
    if handoff is None or not queue.may_open(session, user, handoff.contact_id):
        abort(404)
    if act and not queue.may_act(user, handoff):
        abort(404 if user.role == "sales" else 403)
    return handoff


def _outcome_forms(handoff: Handoff | None) -> dict[str, Any]:
    """What the outcome form offers: the kinds this handoff can take, the reasons, the currency."""
    if handoff is None or not queue.may_act(current_staff(), handoff):
        return {}
    policy = policy_of(current_library())
    kinds = allowed(handoff)
    if not kinds:  # closed: nothing left to record
        return {}
    return {"kinds": kinds, "reasons": {k: policy.reasons[k] for k in kinds if k in policy.reasons},
            "currency": policy.currency}


def may_write(contact_id: int) -> bool:
    """Notes and the phone: the salesperson the contact was handed to (``may_open``), or an admin."""
    user = current_staff()
    return user.role in ("sales", "admin")


def render_contact(contact: Contact, status: int = 200, note: dict[str, Any] | None = None,
                   outcome_form: dict[str, Any] | None = None, error: tuple[str, str] | None = None,
                   phone_typed: str | None = None) -> Any:
    """The contact page; ``note``/``outcome_form`` refill a refused form, ``error`` is (form, message)."""
    session = get_session()
    library = current_library()
    rules = current_rules()
    moment = now()
    state = current_state(session, contact.id, moment, rules)
    brief = briefs.compose(session, contact, library, rules, moment, state)
    cursor = request.args.get("before")
    page = trail.page(session, contact.id, cursor)
    history = list(session.scalars(select(Handoff).where(Handoff.contact_id == contact.id)
                                   .order_by(Handoff.created_at.desc(), Handoff.id.desc()).limit(20)))
    current = next((h for h in history if h.is_open), history[0] if history else None)
    outcomes = list(session.scalars(select(HandoffOutcome).where(HandoffOutcome.contact_id == contact.id)
                                    .order_by(HandoffOutcome.occurred_at.desc()).limit(50)))
    notes = activities.recent(session, contact.id)
    step = next((a for a in sorted(notes, key=lambda a: (a.due_on or date.max, a.id))
                 if a.due_on is not None and a.done_at is None), None) or activities.open_step(session, contact.id)
    staff_ids = ({h.assigned_to for h in history} | {o.staff_user_id for o in outcomes}
                 | {a.staff_user_id for a in notes})
    staff = {u.id: u for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(
        [i for i in staff_ids if i is not None])))} if staff_ids else {}
    user = current_staff()
    assign_form = None
    if user.is_admin and current is not None and current.is_open:
        assign_form = AssignForm(formdata=None)
        assign_form.user.choices = [(str(u.id), u.label) for u in active_sales(session)]
    stage = stage_of(history[0].status if history else None)
    chart = interest_chart([(name, value) for _slug, name, value in brief.interest], _("Interest by problem"))
    owner = staff.get(current.assigned_to) if current is not None and current.assigned_to else None
    booking = (user.booking_url if user.role in ("sales", "admin") and user.booking_url else
               owner.booking_url if owner is not None and owner.booking_url else "")
    account = accounts.account_of(session, contact, moment)
    session.commit()  # the account membership, if it was just made
    place_choices = [a for a, _n in accounts.search(session, "", 200)] if account is None else []
    body = render_template(
        "sales/contact.html", contact=contact, brief=brief, chart=chart, page=page, cursor=cursor,
        handoff=current, history=history, outcomes=outcomes, staff=staff, now=moment, stage=stage,
        forms=_outcome_forms(current), assign_form=assign_form, library=library, depth_bar=depth_bar,
        handoff_form=ActionForm(formdata=None) if user.role in ("admin", "marketer") and may_hand_off(stage)
        else None, notes=notes, step=step, may_write=may_write(contact.id), note=note or {},
        outcome_form=outcome_form or {}, error=error, phone_typed=phone_typed, activity_kinds=activities.KINDS,
        booking=booking,
        tel=tel_href(contact.phone) if contact.phone else "", account=account, place_choices=place_choices,
        threshold=rules.threshold, today=sla.local_today(moment, current_app.config),
        title_of=lambda e: trail.title(e, library), field_labels=_field_labels(library))
    return body, status


@staff_required("sales", "marketer")
def contact_page(contact_id: int) -> Any:
    return render_contact(_visible_contact(contact_id))


@staff_required("sales")
def outcome(handoff_id: int) -> Any:
    session = get_session()
    handoff = _visible_handoff(handoff_id)
    form = OutcomeForm()
    if not form.validate_on_submit():
        abort(400, _("The form is incomplete; reload the page and try again."))
    kind = form.kind.data or ""
    reason = {"sent_back": form.reason_sent_back.data, "disqualified": form.reason_disqualified.data,
              "lost": form.reason_lost.data}.get(kind) or ""
    data = OutcomeInput(kind=kind, reason=reason, note=form.note.data or "",
                        revenue_cents=parse_amount(form.revenue.data), currency=form.currency.data or None,
                        won_on=form.won_on.data)
    refused = try_record(session, handoff, data, current_staff(), now())
    if refused:
        contact = _visible_contact(handoff.contact_id)
        return render_contact(contact, 400, outcome_form=dict(request.form), error=("outcome", refused))
    session.commit()
    flash(_("Recorded."), "ok")
    return redirect(url_for("sales.contact", contact_id=handoff.contact_id))


@staff_required("sales")
def add_note(contact_id: int) -> Any:
    session = get_session()
    contact = _visible_contact(contact_id)
    form = NoteForm()
    form.kind.choices = [(k, k) for k in activities.KINDS]
    if not form.validate_on_submit():
        if form.csrf_token.errors or "csrf_token" in form.errors:
            abort(400, _("The form is incomplete; reload the page and try again."))
        return render_contact(contact, 400, note=dict(request.form),
                              error=("note", _("The due date is not a date; write it as YYYY-MM-DD.")))
    moment = now()
    data = activities.ActivityInput(kind=form.kind.data or "", body=form.body.data or "",
                                    next_step=form.next_step.data or "", due_on=form.due_on.data)
    try:
        activities.record(session, contact, data, current_staff(), moment, sla.local_today(moment, current_app.config))
    except activities.ActivityError as exc:
        session.rollback()
        return render_contact(_visible_contact(contact_id), 400, note=dict(request.form), error=("note", str(exc)))
    session.commit()
    flash(_("Saved."), "ok")
    return redirect(url_for("sales.contact", contact_id=contact.id) + "#notes")


@staff_required("sales")
def step_done(activity_id: int) -> Any:
    session = get_session()
    activity = session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    _visible_contact(activity.contact_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    activities.complete(session, activity, now())
    session.commit()
    flash(_("Done."), "ok")
    target = request.form.get("back") == "today"
    return redirect(url_for("sales.today") if target else url_for("sales.contact", contact_id=activity.contact_id))


@staff_required("sales")
def set_phone(contact_id: int) -> Any:
    session = get_session()
    contact = _visible_contact(contact_id)
    form = PhoneForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, _("The form is incomplete; reload the page and try again."))
        return render_contact(contact, 400, error=("phone", _("The phone number is too long.")),
                              phone_typed=request.form.get("phone", "")[:200])
    phone = clean_phone(form.phone.data)
    if phone is None:
        return render_contact(contact, 400, error=("phone", _(
            "That does not look like a phone number: digits, spaces, + ( ) - . / and an extension only.")),
                              phone_typed=request.form.get("phone", "")[:200])
    contact.phone = phone
    session.commit()
    flash(_("Saved."), "ok")
    return redirect(url_for("sales.contact", contact_id=contact.id))


@staff_required("sales")
def today_page() -> Any:
    session = get_session()
    user = current_staff()
    moment = now()
    library = current_library()
    found = today.day(session, user, moment, sla.local_today(moment, current_app.config),
                      title_of=lambda e: trail.title(e, library))
    form = BookingForm(formdata=None, booking_url=user.booking_url)
    return render_template("sales/today.html", day=found, now=moment, problems=problem_names(),
                           booking_form=form, done_form=ActionForm(formdata=None),
                           threshold=current_rules().threshold, limit=today.LIMIT)


@staff_required("sales")
def set_booking() -> Any:
    session = get_session()
    form = BookingForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("The meeting link is too long."), "error")
        return redirect(url_for("sales.today"), 303)  # See Other: the form was handled
    url = (form.booking_url.data or "").strip()
    parts = urlsplit(url)
    if url and (parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url)):
        flash(_("The meeting link must be an https:// address (your booking page)."), "error")
        return redirect(url_for("sales.today"), 303)  # See Other: the form was handled
    user = session.get(StaffUser, current_staff().id)
    user.booking_url = url
    session.commit()
    flash(_("Saved."), "ok")
    return redirect(url_for("sales.today"), 303)  # See Other: the form was handled


@staff_required("admin")
def assign(handoff_id: int) -> Any:
    session = get_session()
    handoff = _visible_handoff(handoff_id)
    form = AssignForm()
    user_id = form.user.data if form.validate_on_submit() else None
    target = session.get(StaffUser, int(user_id)) if user_id and str(user_id).isdigit() else None
    if target is None:
        abort(400, _("Choose a salesperson."))
    try:
        handoffs.reassign(session, handoff, target, now())
    except ValueError as exc:
        abort(400, str(exc))
    session.commit()
    flash(_("Assigned to %(name)s.", name=target.label), "ok")
    return redirect(url_for("sales.contact", contact_id=handoff.contact_id))


@staff_required("marketer")
def hand_off(contact_id: int) -> Any:
    session = get_session()
    contact = _visible_contact(contact_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    handoff = handoffs.create_handoff(session, contact, {"by": current_staff().email}, now(), reason="manual")
    session.commit()
    if handoff.status == "disqualified":
        flash(_("This contact was disqualified; they are not handed off again."), "error")
    elif handoff.status == "won":
        flash(_("This contact is a customer; they are not handed off again."), "error")
    else:
        flash(_("Handed off to sales."), "ok")
    return redirect(url_for("sales.contact", contact_id=contact.id))


@staff_required("admin")
def deliveries() -> str:
    session = get_session()
    status = request.args.get("status", "all")
    status = status if status in ("all", "pending", "delivered", "failed") else "all"
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(200)
    if status != "all":
        query = query.where(Delivery.status == status)
    return render_template("sales/deliveries.html", deliveries=list(session.scalars(query)), status=status,
                           form=ActionForm(formdata=None))


@staff_required("admin")
def retry(delivery_id: int) -> Any:
    session = get_session()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.retry_now(delivery, now())
    session.commit()
    flash(_("It will be sent again on the next delivery run."), "ok")
    return redirect(url_for("sales.deliveries"))


def init_app(app: Flask) -> None:
    """Register the sales pages under /staff/ and their menu entries."""
    bp = Blueprint("sales", __name__, url_prefix="/staff")
    bp.add_url_rule("/queue", "queue", queue_page, methods=["GET"])
    bp.add_url_rule("/queue.csv", "queue_csv", queue_csv, methods=["GET"])
    bp.add_url_rule("/contacts", "contacts", contacts_page, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>", "contact", contact_page, methods=["GET"])
    bp.add_url_rule("/contacts/<int:contact_id>/handoff", "hand_off", hand_off, methods=["POST"])
    bp.add_url_rule("/handoffs/<int:handoff_id>/outcome", "outcome", outcome, methods=["POST"])
    bp.add_url_rule("/contacts/<int:contact_id>/notes", "add_note", add_note, methods=["POST"])
    bp.add_url_rule("/contacts/<int:contact_id>/phone", "set_phone", set_phone, methods=["POST"])
    bp.add_url_rule("/steps/<int:activity_id>/done", "step_done", step_done, methods=["POST"])
    bp.add_url_rule("/today", "today", today_page, methods=["GET"])
    bp.add_url_rule("/me/booking", "set_booking", set_booking, methods=["POST"])
    bp.add_url_rule("/handoffs/<int:handoff_id>/assign", "assign", assign, methods=["POST"])
    bp.add_url_rule("/deliveries", "deliveries", deliveries, methods=["GET"])
    bp.add_url_rule("/deliveries/<int:delivery_id>/retry", "retry", retry, methods=["POST"])
    app.register_blueprint(bp)
    add_section(app, "sales.today", _l("Today"), ("sales",), order=5,
                description=_l("New handoffs, overdue ones, next steps due, contacts who came back to read"))
    set_home(app, "sales", today_page)
    add_section(app, "sales.queue", _l("Queue"), ("sales", "marketer"), order=10,
                description=_l("Contacts handed to sales, hottest first"))
    add_section(app, "sales.contacts", _l("Contacts"), ("sales", "marketer"), order=20,
                description=_l("Find a contact and open their brief and trail"))
    add_section(app, "sales.deliveries", _l("Deliveries"), ("admin",), order=90,
                description=_l("Webhooks, handoff emails and CRM pushes, with every attempt"))
