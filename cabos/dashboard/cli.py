"""`cabos dashboard refresh`: keep the daily rollup the dashboard reads."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from cabos import db
from cabos.content import current_library
from cabos.dashboard import demo, rollup
from cabos.db import utcnow


@click.group("dashboard", cls=AppGroup)
def dashboard_group() -> None:
    """The shared dashboard."""


@dashboard_group.command("refresh")
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 400),
              help="Rebuild at least this many closed days (late readings can still change them).")
@click.option("--full", is_flag=True, help="Rebuild everything from the first reading.")
def refresh_command(days: int, full: bool) -> None:
    """Rebuild the last days of the dashboard's daily rollup (idempotent; run it daily, or more often)."""
    started = time.perf_counter()
    with db.session_scope() as session:
        result = rollup.refresh(session, utcnow(), current_library(), days=days, full=full)
    if result.first is None:
        click.echo(f"dashboard rollup: nothing to rebuild (holds days up to {result.through})")
        return
    click.echo(f"dashboard rollup: rebuilt {result.first} to {result.through} "
               f"({result.reader_rows} reader rows, {result.content_rows} content rows, "
               f"{result.contact_rows} contact rows) "
               f"in {time.perf_counter() - started:.1f} s")


@click.command("demo")
@click.option("--force", is_flag=True, help="Add the demo history even if the database already has contacts.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if the database already has contacts.")
@click.option("--days", default=180, show_default=True, type=click.IntRange(7, 730))
@click.option("--people", default=240, show_default=True, type=click.IntRange(10, 5000))
@click.option("--seed", default=7, show_default=True, type=int)
@with_appcontext
def demo_command(force: bool, if_empty: bool, days: int, people: int, seed: int) -> None:
    """Fill a fresh database with months of simulated history, made by cabos's own code paths."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if if_empty and demo.has_contacts(app):
        click.echo("cabos demo: the database already has contacts; nothing to do.")
        return
    click.echo(f"cabos demo: simulating {days} days of {people} readers (this takes a little while)…")
    try:
        summary = demo.run(app, app.extensions["cabos.create_app"], days=days, people=people, seed=seed, force=force)
    except demo.DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    revenue = summary.revenue_cents / 100
    click.echo(f"cabos demo: {summary.visitors} readers, {summary.page_views} page views, {summary.contacts} contacts "
               f"({summary.confirmed} confirmed their consent), {summary.emails_sent} nurture emails ({summary.clicks} clicks), {summary.handoffs} handoffs, "
               f"{summary.won} won ({revenue:,.0f} EUR) in {summary.seconds:.0f} s")
    for note in summary.notes[:5]:
        click.echo(f"  note: {note}")
    click.echo(f"\nSign in at /staff/login as {demo.ADMIN_EMAIL} with the password: {summary.password}\n"
               "(shown only now; `cabos users reset-password admin@example.com` sets another one later)")
