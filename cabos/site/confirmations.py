"""Confirmation links: the proof that turns pending answers into a contact's own.

The email sent for a ``PendingSubmission`` carries a token signed with SECRET_KEY
under its own salt: the pending row's id and a hash of the address it was sent
to, valid CONFIRM_LINK_MAX_AGE. Opening the link shows one button (mail scanners
that fetch every link must not confirm on someone's behalf); pressing it applies
the answers once and joins that browser to the contact. A forged, expired or
used link gets a page that says so and offers a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy.exc import SQLAlchemyError

from cabos.contacts.download_log import email_hash
from cabos.contacts.models import Contact, PendingSubmission
from cabos.contacts.proof import confirm
from cabos.content import Document, current_library
from cabos.db import get_session, utcnow
from cabos.intent import hooks as intent_hooks
from cabos.site import page_forms
from cabos.site.confirm_links import serializer as _serializer
from cabos.site.download_links import is_token_shaped, make_token
from cabos.tracking.visitors import current_visitor_id

log = logging.getLogger("cabos.forms")
EXPIRED, INVALID, USED = "expired", "invalid", "used"


@dataclass(frozen=True)
class Found:
    pending: PendingSubmission | None
    contact: Contact | None
    doc: Document | None
    problem: str = ""


def _find(token: str) -> Found:
    """The pending answers a token points at, or why it cannot be used."""
    if not token or not is_token_shaped(token):
        return Found(None, None, None, INVALID)
    try:
        payload = _serializer(str(current_app.secret_key)).loads(
            token, max_age=int(current_app.config["CONFIRM_LINK_MAX_AGE"]))
    except SignatureExpired:
        return _expired(token)
    except (BadSignature, ValueError, TypeError):
        return Found(None, None, None, INVALID)
    if not (isinstance(payload, dict) and isinstance(payload.get("p"), int) and isinstance(payload.get("e"), str)):
        return Found(None, None, None, INVALID)
    session = get_session()
    pending = session.get(PendingSubmission, payload["p"])
    contact = session.get(Contact, pending.contact_id) if pending is not None else None
    if pending is None or contact is None or email_hash(contact.email) != payload["e"]:
        return Found(None, None, None, INVALID)  # erased since, or an id reused by someone else
    doc = current_library().document(pending.content_kind, pending.content_slug)
    if doc is None:
        return Found(pending, contact, None, INVALID)  # the page with the form was unpublished
    if pending.confirmed_at is not None:
        return Found(pending, contact, doc, USED)
    return Found(pending, contact, doc)


def _expired(token: str) -> Found:
    """An expired link still names its form (the signature is good): the page can lead back to it."""
    _valid, payload = _serializer(str(current_app.secret_key)).loads_unsafe(token)
    pending = get_session().get(PendingSubmission, payload["p"]) if isinstance(payload, dict) and isinstance(
        payload.get("p"), int) else None
    doc = current_library().document(pending.content_kind, pending.content_slug) if pending else None  # type: ignore[arg-type]
    return Found(None, None, doc, EXPIRED)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in this page's address
    return response


def _problem(found: Found) -> Response:
    status = {EXPIRED: 410, USED: 409}.get(found.problem, 403)
    return _page("forms/confirm.html", status, state=found.problem, doc=found.doc, form=FlaskForm())


def view() -> Response:
    token = request.args.get("token", "")
    found = _find(token)
    if found.problem:
        return _problem(found)
    form = FlaskForm()
    if request.method == "GET":
        return _page("forms/confirm.html", state="ask", doc=found.doc, form=form, token=token)
    if not form.validate():
        return _page("forms/confirm.html", 400, state="ask", doc=found.doc, form=form, token=token)
    assert found.pending is not None and found.doc is not None
    session = get_session()
    now = utcnow()
    contact = confirm(session, found.pending, found.doc, current_visitor_id(create=True), now)
    if contact is None:
        session.rollback()
        return _problem(Found(found.pending, found.contact, found.doc, USED))
    session.commit()
    try:
        intent_hooks.after_form(session, contact.id, now)
        session.commit()
    except SQLAlchemyError:  # the answers are stored; scoring catches up later
        session.rollback()
        log.exception("intent update after confirming contact %s failed", contact.id)
    if found.pending.form != "guide":
        answer = page_forms.after_confirm(session, found.pending, contact, found.doc, now)
        if answer is not None:
            return answer
    return redirect(after_confirm(found.doc, contact), 303)


def after_confirm(doc: Document, contact: Contact) -> str:
    """Where a confirmed form leads: a guide's download page."""
    if doc.kind == "guide":
        token = make_token(str(current_app.secret_key), contact.id, contact.email, doc.slug)
        return url_for("guides.thanks", slug=doc.slug, token=token)
    return url_for("public.page", slug=doc.slug) if doc.kind == "page" else url_for("public.home")


WORDS = {"es": "confirmar", "en": "confirm"}


def init_app(app: Flask) -> None:
    """The confirmation page, at /confirmar or /confirm by the site's language."""
    language = app.extensions["cabos.content"].library.site.language
    bp = Blueprint("confirm", __name__)
    bp.add_url_rule(f"/{WORDS.get(language, 'confirm')}", "view", view, methods=["GET", "POST"])
    app.register_blueprint(bp)
