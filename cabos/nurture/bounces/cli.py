"""`cabos mail bounces` (read the bounce mailbox now), `cabos mail reviews`, and the worker's mailbox job."""

from __future__ import annotations

import imaplib
import logging
import poplib
import time
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from cabos.db import database, session_scope, utcnow
from cabos.nurture.bounces.mailbox import Mailbox, ReadCounts, process, read
from cabos.nurture.bounces.models import Review
from cabos.nurture.bounces.record import Policy
from cabos.nurture.scheduler import begin_write

log = logging.getLogger("cabos.nurture.bounces")

JOB = "bounce-mailbox"  # its name among the worker's jobs


def read_mailbox(app: Flask) -> ReadCounts:
    """Read MAIL_BOUNCE_MAILBOX once; each message's outcome is committed before it is marked read."""
    mailbox = Mailbox.from_url(str(app.config["MAIL_BOUNCE_MAILBOX"]))
    policy = Policy.from_config(app.config)
    db = database(app)

    def handle(raw: bytes) -> str:
        with db.session() as session:
            begin_write(session)
            return process(session, raw, utcnow(), policy)

    return read(mailbox, handle, timeout=float(app.config["MAIL_TIMEOUT"]))


def summary(counts: ReadCounts) -> str:
    return (f"bounce mailbox: {counts.read} read; {counts.suppressed} suppressed, {counts.counted} soft bounces "
            f"counted, {counts.duplicate} seen before, {counts.ignored} ignored, {counts.review} kept for review")


@click.command("bounces")
@with_appcontext
def bounces_command() -> None:
    """Read the bounce mailbox (MAIL_BOUNCE_MAILBOX) now and apply what it holds."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["MAIL_BOUNCE_MAILBOX"]:
        raise click.ClickException("MAIL_BOUNCE_MAILBOX is not set (imaps://user:password@host/INBOX).")
    try:
        click.echo(summary(read_mailbox(app)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
        raise click.ClickException(f"cannot read the bounce mailbox: {exc}") from None


@click.command("reviews")
@click.option("--show", "show_id", type=int, default=None, help="Print one report as received.")
@with_appcontext
def reviews_command(show_id: int | None) -> None:
    """Bounce reports cabos could not use (malformed, or about no email it sent), newest first."""
    with session_scope() as session:
        if show_id is not None:
            review = session.get(Review, show_id)
            if review is None:
                raise click.ClickException(f"no report #{show_id} kept for review")
            click.echo(review.raw)
            return
        reviews = list(session.scalars(select(Review).order_by(Review.received_at.desc(), Review.id.desc()).limit(100)))
        for r in reviews:
            click.echo(f"#{r.id} {r.received_at:%Y-%m-%d %H:%M} {r.source} {r.recipient or '—'}: {r.reason}")
        click.echo(f"{len(reviews)} reports kept for review" + ("; cabos mail reviews --show N" if reviews else ""))


def mailbox_job(app: Flask) -> Callable[[Flask, Any], None]:
    """The worker's job: read the mailbox every MAIL_BOUNCE_INTERVAL seconds; a failure is logged, never fatal."""
    last = [0.0]

    def job(app: Flask, stop: Any) -> None:
        if not app.config["MAIL_BOUNCE_MAILBOX"] or time.monotonic() - last[0] < float(app.config["MAIL_BOUNCE_INTERVAL"]):
            return
        last[0] = time.monotonic()
        try:
            counts = read_mailbox(app)
        except (ValueError, OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
            log.warning("bounce mailbox: cannot read it: %s", exc)
            return
        if counts.read:
            log.info("%s", summary(counts))

    return job


def init_app(app: Flask) -> None:
    app.extensions.setdefault("cabos.worker_jobs", {})[JOB] = mailbox_job(app)
