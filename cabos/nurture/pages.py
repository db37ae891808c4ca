"""The marketers' nurture pages: every sequence with its steps and numbers, each email previewed
in the browser (HTML and text, for a sample or a chosen contact) and sent as a test to oneself.

A test send is the one email a request sends itself (every other email is queued and sent by the
worker): it goes to the signed-in staff member only, once per click, and the page says at once
whether the mail server took it. Its links are the links as written (no click tracking) and its
subject starts with [Test].
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select

from cabos import mail
from cabos.contacts.capture import normalise_email
from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.db import get_session, utcnow
from cabos.intent.rules import rules_of
from cabos.nurture.emails import Composed, Values
from cabos.nurture.outbox import Composer
from cabos.nurture.report import sequence_reports
from cabos.nurture.scheduler import load_people, pick_article, problems_of
from cabos.nurture.sequences import Sequence, Step, nurture_of
from cabos.staff.auth import current_staff, staff_required
from cabos.staff.sections import add_section

ROLES = ("marketer",)  # and admins
# The email's own HTML, shown in a sandboxed frame of the preview page: its inline styles, images
# from anywhere (as a mail client would), no script, framed by our own pages only.
EMAIL_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https: http:; "
                "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox")


class TestSendForm(FlaskForm):
    """One button; the form exists for its CSRF token."""


@staff_required(*ROLES)
def index() -> str:
    library = current_library()
    reports = sequence_reports(get_session(), library)
    return render_template("nurture/sequences.html", reports=list(reports.values()))


def _step(slug: str, step_id: str) -> tuple[Sequence, Step]:
    sequence = nurture_of(current_library()).sequences.get(slug)
    step = next((s for s in sequence.steps if s.id == step_id), None) if sequence else None
    if sequence is None or step is None:
        abort(404)
    return sequence, step


def _compose(sequence: Sequence, step: Step, contact: Contact, chosen: bool) -> Composed | None:
    """The step's email as ``contact`` would get it (a chosen contact: the article the scheduler would
    pick for them), links untracked, addressed to the signed-in staff member: its unsubscribe link
    names nobody, so clicking it in a preview or a test never unsubscribes the contact."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    library = current_library()
    email = nurture_of(library).emails.get(step.email)
    if email is None:
        return None
    composer = Composer(app, library)
    article = None
    if email.needs_article:
        if chosen:
            person = load_people(get_session(), [contact.id], rules_of(library), utcnow()).get(contact.id)
            article = pick_article(library, person, problems_of(sequence, library), set()) if person else None
        if article is None:
            problems = problems_of(sequence, library)
            article = next((a for p in problems for a in library.articles_for(p)), None) \
                or next(iter(library.articles.values()), None)
    values = Values(contact.name, contact.company, article, composer.article_url(article.slug) if article else "")
    stand_in = Contact(id=0, email=current_staff().email, name=contact.name, company=contact.company)
    return composer.compose(0, step.email, stand_in, values, tracked=False)


def _sample() -> Contact:
    """A contact who is nobody (never stored): the signed-in staff member's address, a sample name."""
    user = current_staff()
    return Contact(id=0, email=user.email, name=user.name or _("Sample Reader"), company=_("Sample Company"))


def _contact(address: str) -> tuple[Contact, bool]:
    if not address:
        return _sample(), False
    found = get_session().scalar(select(Contact).where(Contact.email == normalise_email(address[:320])))
    if found is None:
        flash(_("No contact has the address %(email)s: showing the sample contact.", email=address[:320]), "error")
        return _sample(), False
    return found, True


@staff_required(*ROLES)
def preview(slug: str, step_id: str) -> str:
    sequence, step = _step(slug, step_id)
    address = request.args.get("contact", "").strip()
    contact, chosen = _contact(address)
    composed = _compose(sequence, step, contact, chosen)
    email = nurture_of(current_library()).emails.get(step.email)
    return render_template("nurture/email_preview.html", sequence=sequence, step=step, composed=composed,
                           subjects=email.test.subjects if email is not None and email.test else (),
                           contact=contact, chosen=chosen, address=address if chosen else "",
                           form=TestSendForm(formdata=None))


@staff_required(*ROLES)
def preview_html(slug: str, step_id: str) -> Response:
    """The email's HTML alone, for the preview page's frame."""
    sequence, step = _step(slug, step_id)
    contact, chosen = _contact(request.args.get("contact", "").strip())
    composed = _compose(sequence, step, contact, chosen)
    if composed is None:
        abort(404)
    response = Response(composed.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@staff_required(*ROLES)
def test_send(slug: str, step_id: str) -> Any:
    if not TestSendForm().validate_on_submit():
        abort(400, _("The form is incomplete; reload the page and try again."))
    sequence, step = _step(slug, step_id)
    address = request.form.get("contact", "").strip()
    contact, chosen = _contact(address)
    user = current_staff()
    composed = _compose(sequence, step, contact, chosen)
    back = redirect(url_for("nurture_pages.preview", slug=slug, step_id=step_id, contact=address if chosen else None))
    if composed is None:
        flash(_("This step's email is missing or has errors: run cabos check."), "error")
        return back
    message = composed.message
    for header in ("Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID", "X-Cabos-Outbox", "Date",
                   *mail.PROVIDER_HEADERS.values()):  # a test send gets its own Message-ID (and date)
        del message[header]
    message["Subject"] = _("[Test] %(subject)s", subject=composed.subject)
    try:
        mail.send(message)
    except mail.MailError as exc:
        flash(_("The mail server did not take the test: %(error)s", error=str(exc)[:200]), "error")
        return back
    flash(_("Test sent to %(email)s.", email=user.email), "ok")
    return back


def init_app(app: Flask) -> None:
    """Register /staff/nurture/ (sequences), the email previews and test sends, and the menu entry."""
    bp = Blueprint("nurture_pages", __name__, url_prefix="/staff/nurture", template_folder="templates")
    bp.add_url_rule("/", "index", index, methods=["GET"])
    bp.add_url_rule("/<slug>/<step_id>", "preview", preview, methods=["GET"])
    bp.add_url_rule("/<slug>/<step_id>/email.html", "preview_html", preview_html, methods=["GET"])
    bp.add_url_rule("/<slug>/<step_id>/test", "test_send", test_send, methods=["POST"])
    app.register_blueprint(bp)
    add_section(app, "nurture_pages.index", _l("Nurture"), ROLES, order=20,
                description=_l("Sequences and their steps: who is enrolled, what was sent, clicked, "
                               "unsubscribed and bounced; each email previewed and sent as a test"))
