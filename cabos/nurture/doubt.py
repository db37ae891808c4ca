"""The staff page of sends in doubt: outbox rows left ``unknown``, and a decision for each.

A row is unknown when a sender died, or the connection dropped, after the
message was handed to the mail server: it may have arrived. It is never
resent automatically; here (as with ``cabos nurture stuck`` and ``cabos mail
stuck``) staff check the mail server's log and mark it sent, failed, or send
it again. Three kinds of sends: nurture emails (the outbox), guide link
emails (``guide_mails``) and broadcasts (``broadcast_sends``), each in its own table on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask.cli import with_appcontext
from flask_wtf import FlaskForm
from sqlalchemy import select

from cabos.contacts.models import Contact
from cabos.db import get_session, session_scope, utcnow
from cabos.nurture.bounces.stats import deliverability
from cabos.nurture.models import BroadcastSend, GuideMail
from cabos.nurture.outbox import resolve, stuck
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section

ROLES = ("marketer",)  # and admins: marketing operations run the sequences
ACTIONS = ("sent", "failed", "requeue")
LIMIT = 200


class ResolveForm(FlaskForm):
    """Three buttons (name ``mark``); the form exists for its CSRF token."""


@staff_required(*ROLES)
def in_doubt() -> str:
    session = get_session()
    rows = stuck(session, LIMIT)
    guide_rows = stuck(session, LIMIT, model=GuideMail)
    broadcast_rows = stuck(session, LIMIT, model=BroadcastSend)
    ids = {r.contact_id for r in (*rows, *guide_rows, *broadcast_rows)}
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))} if ids else {}
    return render_template("nurture/in_doubt.html", rows=rows, guide_rows=guide_rows, broadcast_rows=broadcast_rows,
                           contacts=contacts,
                           limit=LIMIT, form=ResolveForm(formdata=None))


@staff_required(*ROLES)
def decide(row_id: int) -> Any:
    return _decide(row_id, model=None)


@staff_required(*ROLES)
def decide_guide(row_id: int) -> Any:
    return _decide(row_id, model=GuideMail)


@staff_required(*ROLES)
def decide_broadcast(row_id: int) -> Any:
    return _decide(row_id, model=BroadcastSend)


def _decide(row_id: int, model: Any) -> Any:
    if not ResolveForm().validate_on_submit():
        abort(400, _("The form is incomplete; reload the page and try again."))
    mark = request.form.get("mark", "")
    if mark not in ACTIONS:
        abort(400, _("Choose sent, failed or send again."))
    session = get_session()
    try:
        if model is None:
            resolve(session, row_id, mark, utcnow())
        else:
            resolve(session, row_id, mark, utcnow(), model=model)
    except ValueError:
        session.rollback()
        flash(_("Send #%(id)d is no longer in doubt (someone decided already).", id=row_id), "error")
        return redirect(url_for("nurture_staff.in_doubt"))
    session.commit()
    done = {"sent": _("Send #%(id)d marked as sent.", id=row_id),
            "failed": _("Send #%(id)d marked as failed; it will not be sent.", id=row_id),
            "requeue": _("Send #%(id)d queued again; the next run sends it.", id=row_id)}
    flash(done[mark], "ok")
    return redirect(url_for("nurture_staff.in_doubt"))


@staff_required(*ROLES)
def deliverability_page() -> str:
    return render_template("nurture/deliverability.html", data=deliverability(get_session()))


def stuck_command(model: Any, noun: str, command: str, describe: Callable[[Any], str]) -> click.Command:
    """A ``stuck`` command for one table of sends (``cabos mail stuck``, ``cabos broadcast stuck``): lists its
    sends in doubt (``describe`` says what each one was), or marks one (--id N --mark sent|failed|requeue)."""

    @click.command("stuck", help=f"{noun[0].upper()}{noun[1:]} whose delivery is unknown (a sender died "
                   "mid-send): never resent unless you say so.")
    @click.option("--mark", type=click.Choice(ACTIONS), default=None,
                  help="Decide about one email (with --id): it arrived, leave it, or send it again.")
    @click.option("--id", "row_id", type=int, default=None)
    @with_appcontext
    def stuck_(mark: str | None, row_id: int | None) -> None:
        with session_scope() as session:
            if mark:
                if row_id is None:
                    raise click.UsageError("--mark needs --id")
                try:
                    click.echo(f"{noun} #{resolve(session, row_id, mark, utcnow(), model).id}: {mark}")
                except ValueError as exc:
                    raise click.ClickException(str(exc)) from None
                return
            rows = stuck(session, 100, model)
            for row in rows:
                at = row.sending_at.strftime("%Y-%m-%d %H:%M") if row.sending_at else "—"
                click.echo(f"#{row.id} contact {row.contact_id} {describe(row)} since {at}: {row.error}")
            click.echo(f"{len(rows)} {noun} in doubt" + (
                f"; check the mail server's log, then: {command} --id N --mark sent|failed|requeue" if rows else ""))

    return stuck_


def init_app(app: Flask) -> None:
    """Register /staff/nurture/in-doubt and /staff/nurture/deliverability, and their menu entries."""
    bp = Blueprint("nurture_staff", __name__, url_prefix="/staff/nurture", template_folder="templates")
    bp.add_url_rule("/in-doubt", "in_doubt", in_doubt, methods=["GET"])
    bp.add_url_rule("/in-doubt/<int:row_id>", "decide", decide, methods=["POST"])
    bp.add_url_rule("/in-doubt/guide/<int:row_id>", "decide_guide", decide_guide, methods=["POST"])
    bp.add_url_rule("/in-doubt/broadcast/<int:row_id>", "decide_broadcast", decide_broadcast, methods=["POST"])
    bp.add_url_rule("/deliverability", "deliverability", deliverability_page, methods=["GET"])
    app.register_blueprint(bp)
    add_section(app, "nurture_staff.deliverability", _l("Deliverability"), ROLES, order=61,
                description=_l("Bounces, complaints and suppressed addresses per sequence and step"))
    add_section(app, "nurture_staff.in_doubt", _l("Sends in doubt"), ROLES, order=60,
                description=_l("Emails that may or may not have arrived: mark them sent, failed or send again"))
