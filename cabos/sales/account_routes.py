"""Staff pages of accounts: the list, one company with everyone at it, manual placement and merges.

Marketing and admins see every account; a salesperson sees the accounts of
the contacts handed to them (the whole group: the point of an account).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from cabos.contacts.capture import clean_text
from cabos.content import current_library
from cabos.db import get_session, utcnow
from cabos.sales import accounts, queue, trail
from cabos.sales.forms import ActionForm
from cabos.sales.models import Account, AccountMember, Handoff
from cabos.sales.routes import _visible_contact
from cabos.staff.auth import current_staff, staff_required
from cabos.staff.sections import add_section
from cabos.tracking.trail import trail as events_page

TRAIL_EVENTS = 50


def _visible(account_id: int) -> Account:
    session = get_session()
    account = session.get(Account, account_id)
    if account is None:
        abort(404)
    user = current_staff()
    if user.role == "sales" and session.scalar(
            select(AccountMember.contact_id).join(Handoff, Handoff.contact_id == AccountMember.contact_id)
            .where(AccountMember.account_id == account.id, Handoff.assigned_to == user.id).limit(1)) is None:
        abort(404)
    return account


@staff_required("sales", "marketer")
def list_page() -> str:
    session = get_session()
    q = clean_text(request.args.get("q", ""), 100)
    found = accounts.search(session, q)
    if current_staff().role == "sales":
        mine = set(session.scalars(select(AccountMember.account_id).join(
            Handoff, Handoff.contact_id == AccountMember.contact_id).where(Handoff.assigned_to == current_staff().id)))
        found = [(a, n) for a, n in found if a.id in mine]
    return render_template("sales/accounts.html", found=found, q=q)


def render_account(account: Account, status: int = 200, error: str = "") -> Any:
    session = get_session()
    library = current_library()
    now = utcnow()
    decide = frozenset(library.site.stage_slugs[1:])
    found = accounts.summary(session, account, now, decide)
    ids = [p.contact.id for p in found.people]
    events = []
    if ids:
        # The account's trail: the newest events of everyone at it, merged.
        per = [e for c in ids[:200] for e in events_page(session, c, limit=TRAIL_EVENTS)]
        events = sorted(per, key=lambda e: (e.occurred_at, e.id), reverse=True)[:TRAIL_EVENTS]
    names = {c.id: (c.name or c.email) for c in (p.contact for p in found.people)}
    visible = {p.contact.id for p in found.people if queue.may_open(session, current_staff(), p.contact.id)} \
        if current_staff().role == "sales" else set(ids)
    problems = {slug: p.name for slug, p in library.problems.items()}
    others = accounts.search(session, "", limit=200) if current_staff().role in ("admin", "marketer") else []
    body = render_template("sales/account.html", s=found, events=events, names=names, visible=visible,
                           problems=problems, title_of=lambda e: trail.title(e, library), error=error,
                           merge_form=ActionForm(formdata=None), others=[a for a, _n in others if a.id != account.id])
    return body, status


@staff_required("sales", "marketer")
def account_page(account_id: int) -> Any:
    return render_account(_visible(account_id))


@staff_required("marketer")
def merge(account_id: int) -> Any:
    session = get_session()
    source = _visible(account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    raw = request.form.get("into", "")
    into = session.get(Account, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if into is None:
        return render_account(source, 400, _("Choose the account to merge this one into."))
    try:
        accounts.merge(session, source, into)
    except accounts.AccountError as exc:
        session.rollback()
        return render_account(_visible(account_id), 400, str(exc))
    session.commit()
    flash(_("Merged."), "ok")
    return redirect(url_for("accounts.account", account_id=into.id))


@staff_required("sales", "marketer")
def place(contact_id: int) -> Any:
    """Put a contact (typically at a personal address) into an account by hand."""
    session = get_session()
    contact = _visible_contact(contact_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    raw = request.form.get("account", "")
    account = session.get(Account, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if account is None:
        flash(_("Choose an account."), "error")
        return redirect(url_for("sales.contact", contact_id=contact.id))
    accounts.place(session, contact, account, utcnow())
    session.commit()
    flash(_("Added to %(name)s.", name=account.name), "ok")
    return redirect(url_for("sales.contact", contact_id=contact.id))


def init_app(app: Flask) -> None:
    bp = Blueprint("accounts", __name__, url_prefix="/staff/accounts")
    bp.add_url_rule("", "list", list_page, methods=["GET"])
    bp.add_url_rule("/<int:account_id>", "account", account_page, methods=["GET"])
    bp.add_url_rule("/<int:account_id>/merge", "merge", merge, methods=["POST"])
    bp.add_url_rule("/place/<int:contact_id>", "place", place, methods=["POST"])
    app.register_blueprint(bp)
    add_section(app, "accounts.list", _l("Accounts"), ("sales", "marketer"), order=25,
                description=_l("Companies: everyone who reads from one, their combined interest and stages"))
