"""Forms placed on pages and articles (``content/forms/*.yml``): shown, posted, acted on.

A page that carries a form is rendered per visitor (a CSRF token in it), not from
the shared page cache. A post goes through the identity rule (``cabos.contacts.proof``):
answers for an address somebody else may own wait for the emailed confirmation. What
a proven answer does depends on the form's kind:

- demo / contact_sales (hand-raisers): an ``Event(type="hand_raise")`` with the message,
  then ``intent.hooks.after_form``: intent puts the contact in purchase mode and hands a
  fit contact to sales at once; the message is on the trail the salesperson reads;
- newsletter: nothing more until the confirmation click, which records the consent
  and puts the contact on the list (double opt-in).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cabos.contacts import proof
from cabos.contacts.capture import Lead, touch_from
from cabos.contacts.models import Contact
from cabos.content import Document, current_library
from cabos.db import get_session, utcnow
from cabos.intent import hooks as intent_hooks
from cabos.site import forms, guide_mail, limits
from cabos.site.form_specs import NEWSLETTER, FormSpec, forms_of
from cabos.tracking.models import Event
from cabos.content.urls import document_url
from cabos.tracking.visitors import current_visitor_id, delete_cookie

log = logging.getLogger("cabos.forms")
WORDS = {"es": "formularios", "en": "forms"}
NOT_ME = {"es": "no-soy-yo", "en": "not-me"}


def newsletter_consent() -> str:
    return _("I want to receive the newsletter by email. I can unsubscribe at any time.")


def build(spec: FormSpec, formdata: Any = None, contact: Contact | None = None) -> forms.FlaskForm:
    """The form of ``spec``; a recognised ``contact`` is asked only what is still unknown."""
    site = current_library().site
    if spec.kind == NEWSLETTER:
        return forms.build_form(spec.fields, site, formdata=formdata, consent="required",
                                consent_label=newsletter_consent(), contact=contact)
    return forms.build_form(spec.fields, site, formdata=formdata, message=spec.message or _("Message"),
                            message_required=spec.message_required, contact=contact)


def placed(doc: Document) -> list[FormSpec]:
    return forms_of(current_library()).on(doc.kind, doc.slug)


def _private(body: str, status: int = 200) -> Response:
    response = Response(body, status=status)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def show(doc: Document, template: str, status: int = 200, posted: tuple[FormSpec, Any] | None = None,
         **context: Any) -> Response:
    """``doc``'s page with its forms (``posted``: the one sent back with its errors)."""
    contact = forms.recognised()
    blocks = []
    for spec in placed(doc):
        form = posted[1] if posted and posted[0].name == spec.name else build(spec, contact=contact)
        blocks.append((spec, form))
    return _private(render_template(template, doc=doc, form_blocks=blocks, recognised=contact, **context), status)


def _doc_for(spec: FormSpec) -> Document:
    kind, _sep, slug = (request.form.get("page") or "").partition("/")
    if (kind, slug) not in spec.on:
        abort(404)  # only where the marketer placed it
    doc = current_library().document(kind, slug)  # type: ignore[arg-type]
    if doc is None:
        abort(404)
    return doc


def _page_context(doc: Document) -> tuple[str, dict[str, Any]]:
    lib = current_library()
    if doc.kind == "article":
        return "public/article.html", {"related": lib.related(doc), "guide": lib.guide_for(doc)}
    return "public/page.html", {}


def post(name: str) -> Response:
    spec = forms_of(current_library()).by_name.get(name)
    if spec is None:
        abort(404)
    doc = _doc_for(spec)
    contact = forms.recognised() if "email" not in request.form else None  # see guides.landing
    form = build(spec, request.form, contact)
    template, context = _page_context(doc)
    if form[forms.HONEYPOT].data:
        log.info("honeypot filled on form %s", name)  # success for the bot; nothing stored, nothing sent
        return _private(render_template("forms/thanks.html", doc=doc, spec=spec, pending=False))
    if not form.validate():
        return show(doc, template, 422, posted=(spec, form), **context)
    return _accept(spec, doc, form, contact)


def _accept(spec: FormSpec, doc: Document, form: Any, recognised: Contact | None) -> Response:
    builtin, custom = forms.submitted_values(form, specs=spec.fields)
    consent = getattr(form, "consent", None)
    ticked = consent is not None and consent.data
    email, name = (form.email.data, form.name.data) if recognised is None else (recognised.email, recognised.name)
    lead = Lead(email=email, name=name, fields=builtin, custom=custom,
                consent_text=str(consent.label.text) if ticked else "")
    message = (form.message.data or "") if spec.hand_raiser else ""
    extra = {"kind": spec.kind, "message": message} if spec.hand_raiser else {"kind": spec.kind}
    now = utcnow()
    touch = touch_from(request.args, form.ref.data or request.referrer or None, request.path, now)
    visitor_id = current_visitor_id(create=True)
    session = get_session()
    for attempt in (1, 2):
        try:
            done = proof.submit(session, lead, doc, spec.name, touch, visitor_id, now, extra=extra,
                                language=current_library().site.language, list_name=spec.list)
            session.commit()
            break
        except IntegrityError:
            session.rollback()  # the same new address at once: the other request created it
            if attempt == 2:
                raise
    if done.status in (proof.NEW, proof.APPLIED) and spec.hand_raiser:
        raise_hand(session, done.contact, spec, doc, message, now)
    if done.pending is not None and done.fresh:
        guide_mail.queue_from_form(session, done.contact, spec.name, guide_mail.CONFIRM, now, done.pending)
    session.commit()
    return _private(render_template("forms/thanks.html", doc=doc, spec=spec, pending=done.pending is not None))


def raise_hand(session: Session, contact: Contact, spec: FormSpec, doc: Document, message: str,
               now: datetime) -> None:
    """A proven demo or contact-sales request: on the trail with its message, and to sales at once."""
    session.add(Event(type="hand_raise", occurred_at=now, contact_id=contact.id, content_kind=doc.kind,
                      content_slug=doc.slug, stage=doc.stage, problems=list(doc.problems),
                      data={"form": spec.name, "kind": spec.kind, "message": message}))
    session.flush()
    # Intent enters purchase mode on a hand-raise and hands a fit contact to sales at once
    # (cabos.intent.timeline, nurture.handoff); an unfit one stays visible with the request on its trail.
    try:
        with session.begin_nested():
            intent_hooks.after_form(session, contact.id, now)
    except SQLAlchemyError:  # the request is on the trail; `cabos intent recompute` catches up
        log.exception("intent update after the %s form of contact %s failed", spec.name, contact.id)


def after_confirm(session: Session, pending: Any, contact: Contact, doc: Document, now: datetime) -> Response | None:
    """A confirmed form from ``content/forms``: its kind's action and thank-you page (None: not one)."""
    spec = forms_of(current_library()).by_name.get(pending.form)
    if spec is None:
        return None
    answers = pending.answers or {}
    if spec.hand_raiser and answers.get("apply", True):
        raise_hand(session, contact, spec, doc, str((answers.get("extra") or {}).get("message") or ""), now)
        session.commit()
    return _private(render_template("forms/thanks.html", doc=doc, spec=spec, pending=False, confirmed=True))


def not_me() -> Response:
    """Someone else on a shared browser: forget who it is (a new visitor from now on), back to the page."""
    kind, _sep, slug = (request.form.get("page") or "").partition("/")
    doc = current_library().document(kind, slug) if kind in ("article", "guide", "page") else None  # type: ignore[arg-type]
    response = redirect(document_url(doc) if doc is not None else url_for("public.home"), 303)
    delete_cookie(response)
    return response  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Where the forms on pages post to: /formularios/NAME or /forms/NAME by the site's language."""
    language = app.extensions["cabos.content"].library.site.language
    bp = Blueprint("page_forms", __name__)
    bp.add_url_rule(f"/{WORDS.get(language, 'forms')}/<name>", "post", limits.form_limit(app, post),
                    methods=["POST"])
    bp.add_url_rule(f"/{NOT_ME.get(language, 'not-me')}", "not_me", not_me, methods=["POST"])
    app.register_blueprint(bp)
    app.jinja_env.globals["site_privacy"] = lambda: forms_of(current_library()).privacy
