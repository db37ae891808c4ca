"""Guide link emails: the form queues a row, the worker sends it, at most once.

A request never talks to the mail server (a slow or absent one would hold a
gunicorn worker for MAIL_TIMEOUT): ``queue`` adds a ``GuideMail`` row in the
transaction that stores the lead, and ``GuideMailer`` sends it later, from the
worker's ``guide-mail`` job, `cabos mail deliver`, or the worker thread that
`cabos serve --dev` starts. The mailer is a nurture ``Deliverer``: the same
claims, retries with back-off, permanent failures and sends in doubt as the
outbox (see ``cabos.nurture.outbox``). The link is signed when the email is
rendered, so it lasts DOWNLOAD_LINK_MAX_AGE from when the reader gets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

import click
from flask import Flask, current_app, render_template
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact, PendingSubmission
from cabos.content.library import Library
from cabos.content.model import Document
from cabos.db import utcnow
from cabos.nurture.emails import recipient
from cabos.nurture.models import QUEUED, SKIPPED, GuideMail
from cabos.nurture.doubt import stuck_command
from cabos.nurture.outbox import Deliverer, SendCounts
from cabos.site import limits
from cabos.site.confirm_links import make_confirm_token
from cabos.site.download_links import make_token

log = logging.getLogger("cabos.guides")

FORM, RESEND, CONFIRM = "form", "resend", "confirm"
JOB = "guide-mail"  # its name among the worker's jobs


def queue(session: Session, contact: Contact, guide: str, kind: str, now: datetime,
          pending: PendingSubmission | None = None) -> GuideMail:
    """Ask for the guide's link (or a confirmation link) to be emailed to ``contact``; sent once the caller commits."""
    row = GuideMail(contact_id=contact.id, guide=guide, kind=kind, status=QUEUED, created_at=now,
                    next_attempt_at=now, pending_id=pending.id if pending is not None else None)
    session.add(row)
    return row


def queue_from_form(session: Session, contact: Contact, guide: str, kind: str, now: datetime,
                    pending: PendingSubmission | None = None) -> GuideMail | None:
    """``queue``, within MAIL_PER_RECIPIENT_LIMIT: what a public form asks for.

    Once the address has had its emails for the hour nothing more is queued; the caller
    answers as usual either way, so a flood of posts from many IPs floods no inbox.
    Call it with no write pending in ``session``: the counter is written on its own
    connection (on SQLite a second writer would wait for this one).
    """
    if not limits.recipient_allows(contact.email):
        log.info("mail to contact %s not queued: per-recipient limit reached", contact.id)
        return None
    return queue(session, contact, guide, kind, now, pending)


def _confirm_link(app: Flask, library: Library, contact: Contact, pending: PendingSubmission) -> tuple[str, int]:
    """The signed link that confirms ``pending``, and how many hours it works."""
    base_url = str(app.config["SITE_URL"] or library.site.base_url).rstrip("/")
    token = make_confirm_token(str(app.secret_key), pending.id, contact.email)
    link = base_url + app.url_map.bind("localhost").build("confirm.view", {"token": token})
    return link, max(1, round(app.config["CONFIRM_LINK_MAX_AGE"] / 3600))


def compose_confirm(app: Flask, library: Library, contact: Contact, pending: PendingSubmission, doc: Document,
                    row_id: int) -> EmailMessage:
    """The email asking the address's owner to confirm answers sent in their name."""
    link, hours = _confirm_link(app, library, contact, pending)
    context = {"contact": contact, "doc": doc, "link": link, "hours": hours,
               "consent_text": (pending.answers or {}).get("consent_text") or "",
               "answers_waiting": bool((pending.answers or {}).get("apply", True))}
    message = _message(app, library, contact, row_id, _("Please confirm: %(title)s", title=doc.title))
    message.set_content(render_template("forms/confirm_email.txt", **context))
    message.add_alternative(render_template("forms/confirm_email.html", **context), subtype="html")
    return message


def _message(app: Flask, library: Library, contact: Contact, row_id: int, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    sender = app.config["MAIL_FROM"]
    message["From"] = sender if "<" in sender else Address(display_name=library.site.name, addr_spec=sender)
    message["To"] = recipient(contact.name, contact.email)
    domain = str(sender).rsplit("@", 1)[-1].strip("> ") or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"guide.{row_id}", domain=domain)
    message["X-Cabos-Guide-Mail"] = str(row_id)
    return message


def compose(app: Flask, library: Library, contact: Contact, doc: Document, row_id: int,
            consent: PendingSubmission | None = None) -> EmailMessage:
    """The email with a fresh signed link to ``doc`` (outside any request: URLs from the site's address).

    With ``consent`` (a ticked box waiting for its double opt-in) the same email asks for that
    confirmation below the guide: one email per form, not two.
    """
    base_url = str(app.config["SITE_URL"] or library.site.base_url).rstrip("/")
    adapter = app.url_map.bind("localhost")
    token = make_token(str(app.secret_key), contact.id, contact.email, doc.slug)
    link = base_url + adapter.build("guides.download", {"slug": doc.slug, "token": token})
    landing_url = base_url + adapter.build("guides.landing", {"slug": doc.slug})
    max_days = max(1, round(app.config["DOWNLOAD_LINK_MAX_AGE"] / 86400))
    context = {"contact": contact, "doc": doc, "link": link, "landing_url": landing_url, "days": max_days,
               "consent_text": "", "confirm_link": "", "hours": 0}
    if consent is not None:
        context["confirm_link"], context["hours"] = _confirm_link(app, library, contact, consent)
        context["consent_text"] = (consent.answers or {}).get("consent_text") or ""
    message = _message(app, library, contact, row_id, _("Your guide: %(title)s", title=doc.title))
    message.set_content(render_template("guides/email.txt", **context))
    message.add_alternative(render_template("guides/email.html", **context), subtype="html")
    return message


class GuideMailer(Deliverer):
    """Sends queued guide link emails; needs an app context (templates, translations)."""

    model = GuideMail
    kind = "guide"
    label = "guide mail"
    stuck_hint = "see `cabos mail stuck`"

    def __init__(self, app: Flask, sender_id: str | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(app, sender_id, clock)
        self.library: Library = app.extensions["cabos.content"].current()

    def _verdict(self, session: Session, row: GuideMail, now: datetime) -> tuple[str, str] | None:
        if row.kind == CONFIRM:
            pending = session.get(PendingSubmission, row.pending_id) if row.pending_id else None
            if pending is None or self.library.document(pending.content_kind, pending.content_slug) is None:
                return SKIPPED, "form_gone"
            return (SKIPPED, "confirmed") if pending.confirmed_at is not None else None
        if row.guide not in self.library.guides or session.get(Contact, row.contact_id) is None:
            return SKIPPED, "guide_gone"  # unpublished since the form was sent
        return None

    def _render(self, session: Session, row: GuideMail) -> EmailMessage:
        contact = session.get(Contact, row.contact_id)
        assert contact is not None
        if row.kind == CONFIRM:
            pending = session.get(PendingSubmission, row.pending_id)
            assert pending is not None
            doc = self.library.document(pending.content_kind, pending.content_slug)  # type: ignore[arg-type]
            assert doc is not None
            return compose_confirm(self.app, self.library, contact, pending, doc, row.id)
        consent = session.get(PendingSubmission, row.pending_id) if row.pending_id else None
        if consent is not None and consent.confirmed_at is not None:
            consent = None  # confirmed meanwhile (a resend, a retry): nothing left to ask
        return compose(self.app, self.library, contact, self.library.guides[row.guide], row.id, consent)


def deliver(app: Flask, stop: Callable[[], bool] | None = None) -> SendCounts:
    """Recover what stopped senders left, then send every guide email that is ready."""
    mailer = GuideMailer(app)
    recovered = mailer.recover(mailer.clock())
    counts = mailer.deliver(stop)
    counts.requeued, counts.stuck = recovered.requeued, recovered.stuck
    return counts


def summary(counts: SendCounts) -> str:
    parts = [f"sent {counts.sent}"]
    for label in ("retried", "failed", "unknown", "skipped", "lost", "released", "requeued", "stuck"):
        if getattr(counts, label):
            parts.append(f"{label} {getattr(counts, label)}")
    return "guide mail: " + "; ".join(parts)


def deliver_job(app: Flask, stop: Callable[[], bool]) -> None:
    """The worker's job (after each nurture tick)."""
    counts = deliver(app, stop)
    if counts.sent or counts.failed or counts.retried or counts.unknown or counts.stuck:
        log.info("%s", summary(counts))


@click.group("mail")
def mail_group() -> None:
    """Email the site sends on its own: guide links asked for on the site."""


@mail_group.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Send the queued guide link emails now (the worker does it every tick; safe to overlap)."""
    click.echo(summary(deliver(current_app._get_current_object())))  # type: ignore[attr-defined]


mail_group.add_command(stuck_command(GuideMail, "guide emails", "cabos mail stuck",
                                     lambda row: f"{row.guide} ({row.kind})"))


def init_app(app: Flask) -> None:
    """Make the worker send guide link emails after each tick."""
    app.extensions.setdefault("cabos.worker_jobs", {})[JOB] = deliver_job
