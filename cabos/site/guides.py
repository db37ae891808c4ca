"""Gated guides: landing page and lead form, thank-you, signed download, fresh links.

The PDF is found by the guide's slug in the library and served from the PDF
cache; nothing in a request ever becomes a filesystem path. A link that is
forged, broken, expired or meant for another guide gets a page that offers
a fresh one, never a file and never an error page. Full downloads of PDFs
already in the cache are answered by ``fast_download`` in front of Flask; the
``download`` view answers everything else.
"""

from __future__ import annotations

import logging

from flask import (Blueprint, Flask, Response, abort, current_app, redirect, render_template, request,
                   send_file, url_for)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cabos.contacts import proof
from cabos.contacts.capture import Lead, touch_from
from cabos.contacts.download_log import Download, DownloadLog
from cabos.contacts.models import Contact
from cabos.intent import hooks as intent_hooks
from cabos.content import Document, current_library
from cabos.content import contrast
from cabos.content.pdf import guide_pdf
from cabos.content.urls import site_url
from cabos.db import database, get_session, utcnow
from cabos.site import fast_download, forms, guide_mail, limits
from cabos.site.download_links import Grant, LinkError, is_token_shaped, make_token, read_token
from cabos.tracking.visitors import current_visitor_id

log = logging.getLogger("cabos.guides")


def _guide(slug: str) -> Document:
    doc = current_library().guides.get(slug)
    if doc is None:
        abort(404)
    return doc


def _private(response: Response, status: int = 200) -> Response:
    # Pages with a form token or a personal link are never shared by caches.
    response.status_code = status
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _page(template: str, status: int = 200, **context: object) -> Response:
    return _private(Response(render_template(template, **context)), status)


def index() -> Response:
    lib = current_library()
    groups = [(p, lib.guides_for(p.slug)) for p in lib.problems.values()]
    loose = [g for g in lib.guides.values() if not g.problems]
    return _page("guides/index.html", groups=[(p, gs) for p, gs in groups if gs], loose=loose)


def covers_css() -> Response:
    """Each guide's cover colour (validated #rrggbb) as CSS, so pages need no inline styles."""
    lib = current_library()
    rules = [f'.guide-cover[data-slug="{g.slug}"]{{background:{contrast.readable(g.cover_color, (contrast.WHITE,))}}}'
             for g in lib.guides.values() if g.cover_color]
    response = Response("\n".join(rules) + "\n", mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


def landing(slug: str) -> Response:
    doc = _guide(slug)
    lib = current_library()
    # A recognised contact is asked only what is still unknown; a post of the whole form (rendered
    # before they were recognised: a double click) is taken as typed, so it is stored once.
    contact = forms.recognised() if "email" not in request.form else None
    form = forms.lead_form(doc, lib.site, contact=contact)
    if request.method == "POST":
        if form[forms.HONEYPOT].data:
            # Looks like success to the bot; nothing is stored and nothing is sent.
            log.info("honeypot filled on guide %s", slug)
            return _page("guides/thanks.html", doc=doc, token=None)
        if form.validate():
            return _accept(doc, form, contact)
        return _page("guides/landing.html", 422, doc=doc, form=form, fields=forms.extra_fields(form, doc),
                     recognised=contact)
    referrer = request.referrer or ""
    if referrer and not referrer.startswith(site_url()):
        form.ref.data = referrer[:500]
    return _page("guides/landing.html", doc=doc, form=form, fields=forms.extra_fields(form, doc),
                 recognised=contact)


def _accept(doc: Document, form: forms.FlaskForm, recognised: Contact | None = None) -> Response:
    builtin, custom = forms.submitted_values(form, doc)
    consent = getattr(form, "consent", None)
    email, name = (form.email.data, form.name.data) if recognised is None else (recognised.email, recognised.name)
    lead = Lead(email=email, name=name, fields=builtin, custom=custom,
                consent_text=forms.consent_text() if consent is not None and consent.data else "")
    now = utcnow()
    touch = touch_from(request.args, form.ref.data or None, request.path, now)
    visitor_id = current_visitor_id(create=True)
    session = get_session()
    for attempt in (1, 2):
        try:
            done = proof.submit(session, lead, doc, "guide", touch, visitor_id, now,
                                language=current_library().site.language)
            session.commit()
            break
        except IntegrityError:
            # The same new address submitted twice at once: the other request created it.
            session.rollback()
            if attempt == 2:
                raise
    # Queued after the lead is stored (the per-recipient counter is written on its own
    # connection), sent by the worker: the request never waits for the mail server.
    ask = done.pending if done.pending is not None and done.fresh else None  # answers to prove, or a consent
    if done.status in (proof.NEW, proof.APPLIED):
        # One email: the guide's link, and the consent to confirm beneath it when the box was ticked.
        guide_mail.queue_from_form(session, done.contact, doc.slug, guide_mail.FORM, now, ask)
    elif ask is not None:
        guide_mail.queue_from_form(session, done.contact, doc.slug, guide_mail.CONFIRM, now, ask)
    session.commit()
    if not done.proven:
        # Someone else's address, maybe: nothing changes until its owner clicks the emailed link.
        return _page("forms/check_inbox.html", doc=doc)
    contact = done.contact
    try:
        intent_hooks.after_form(session, contact.id, now)
        session.commit()
    except SQLAlchemyError:  # the lead is stored; scoring catches up on the next reading or recompute
        session.rollback()
        log.exception("intent update after the form of contact %s failed", contact.id)
    token = make_token(current_app.secret_key, contact.id, contact.email, doc.slug)  # type: ignore[arg-type]
    return redirect(url_for("guides.thanks", slug=doc.slug, token=token), 303)


def _link_problem(doc: Document, error: LinkError | None) -> Response:
    expired = bool(error and error.expired)
    return _page("guides/link.html", 410 if expired else 403, doc=doc, state="expired" if expired else "invalid",
                 form=forms.ResendForm())


def _grant(doc: Document) -> tuple[Grant | None, LinkError | None]:
    """The signed grant in the query string. No database: a cached download must stay cheap."""
    token = request.args.get("token", "")
    if token and not is_token_shaped(token):
        abort(404)  # not even shaped like one of our tokens: path tricks, probes
    try:
        return read_token(current_app.secret_key, token, doc.slug,  # type: ignore[arg-type]
                          int(current_app.config["DOWNLOAD_LINK_MAX_AGE"])), None
    except LinkError as exc:
        return None, exc


def thanks(slug: str) -> Response:
    doc = _guide(slug)
    grant, error = _grant(doc)
    if grant is None:
        return _link_problem(doc, error)
    return _page("guides/thanks.html", doc=doc, token=request.args["token"])


def download(slug: str) -> Response:
    doc = _guide(slug)
    grant, error = _grant(doc)
    if grant is None:
        return _link_problem(doc, error)
    try:
        path = guide_pdf(current_library(), doc)
    except Exception:
        log.exception("could not render the PDF of guide %s", slug)
        return _page("error.html", 503, code=503, name="PDF",
                     description=_("The guide could not be prepared just now. Please try again in a minute."))
    version = path.stem.rsplit("--", 1)[-1]
    # One event per download, not per byte range a PDF viewer asks for afterwards.
    byte_range = request.headers.get("Range", "")
    if request.method == "GET" and (not byte_range or byte_range.replace(" ", "").startswith("bytes=0-")):
        current_app.extensions["cabos.download_log"].add(Download(
            grant.contact_id, grant.email_hash, doc.slug, doc.stage, doc.problems, data={"file": version}))
    response = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"{doc.slug}.pdf",
                         conditional=True, etag=version, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _private(response, response.status_code)


def resend(slug: str) -> Response:
    doc = _guide(slug)
    form = forms.ResendForm()
    if request.method == "GET":
        return _page("guides/link.html", doc=doc, state="ask", form=form)
    if form.website.data:
        return _page("guides/link.html", doc=doc, state="sent", form=form)
    if not form.validate():
        return _page("guides/link.html", 422, doc=doc, state="ask", form=form)
    session = get_session()
    contact = session.scalar(select(Contact).where(Contact.email == form.email.data))
    if contact is not None:
        guide_mail.queue_from_form(session, contact, doc.slug, guide_mail.RESEND, utcnow())
        session.commit()
    # The same answer either way: this page must not tell who is a contact.
    return _page("guides/link.html", doc=doc, state="sent", form=forms.ResendForm(formdata=None))


def init_app(app: Flask) -> None:
    """Register the guides blueprint with path words in the site's language."""
    word = app.config["PATHS"]["guides"]
    words = _WORDS.get(word, _WORDS["guias"])
    bp = Blueprint("guides", __name__)
    bp.add_url_rule(f"/{word}", "index", index, methods=["GET"])
    bp.add_url_rule(f"/{word}/", "index_slash", redirect_to=f"/{word}")  # a typed or pasted trailing slash
    bp.add_url_rule(f"/{word}/covers.css", "covers_css", covers_css, methods=["GET"])
    bp.add_url_rule(f"/{word}/<slug>", "landing", limits.form_limit(app, landing), methods=["GET", "POST"])
    bp.add_url_rule(f"/{word}/<slug>/{words['thanks']}", "thanks", thanks, methods=["GET"])
    bp.add_url_rule(f"/{word}/<slug>/{words['download']}", "download", download, methods=["GET"])
    bp.add_url_rule(f"/{word}/<slug>/{words['link']}", "resend", limits.form_limit(app, resend),
                    methods=["GET", "POST"])
    app.register_blueprint(bp)
    guide_mail.init_app(app)
    fast_download.install(app, word, words["download"])
    flush_ms = app.config["DOWNLOAD_EVENTS_FLUSH_MS"]
    if flush_ms is None:
        flush_ms = 0 if app.testing else 1000
    app.extensions["cabos.download_log"] = DownloadLog(database(app), interval=float(flush_ms) / 1000)


# Path words after the guide's slug, in the site's language (like URL_WORDS in cabos.content.model).
_WORDS = {
    "guias": {"thanks": "gracias", "download": "descargar", "link": "nuevo-enlace"},
    "guides": {"thanks": "thanks", "download": "download", "link": "new-link"},
}
