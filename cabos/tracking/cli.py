"""`cabos tracking purge` (retention) and `cabos tracking drops` (why beacons were dropped)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from cabos.db import session_scope, utcnow
from cabos.tracking import retention, trail


@click.group("tracking", cls=AppGroup)
def tracking_group() -> None:
    """Readings and visitors: retention and drop counts."""


@tracking_group.command("purge")
@click.option("--older-than", "days", type=click.IntRange(min=1), default=None,
              help="Delete events older than this many days (default: TRACKING_RETENTION_DAYS).")
@click.option("--anonymous-days", type=click.IntRange(min=1), default=None,
              help="Delete never-identified visitors unseen for this many days, with their events "
                   "(default: ANONYMOUS_RETENTION_DAYS).")
def purge_command(days: int | None, anonymous_days: int | None) -> None:
    """Apply the retention settings: old events, then anonymous visitors."""
    days = days or int(current_app.config["TRACKING_RETENTION_DAYS"])
    anonymous_days = anonymous_days or int(current_app.config["ANONYMOUS_RETENTION_DAYS"])
    now = utcnow()
    events = 0
    while True:  # one transaction per batch: the write lock is never held for long
        with session_scope() as session:
            n = retention.purge_events(session, now - timedelta(days=days))
        events += n
        if n == 0:
            break
    visitors = anonymous_events = 0
    while True:
        with session_scope() as session:
            v, e = retention.purge_anonymous(session, now - timedelta(days=anonymous_days))
        visitors, anonymous_events = visitors + v, anonymous_events + e
        if v == 0:
            break
    click.echo(f"purged {events} events older than {days} days; "
               f"{visitors} anonymous visitors unseen for {anonymous_days} days, with {anonymous_events} events")


@tracking_group.command("drops")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def drops_command(days: int) -> None:
    """Beacons dropped per reason (bot, consent, unknown_view, rate_limit, foreign_host, overload)."""
    with session_scope() as session:
        rows = trail.drop_counts(session, (utcnow() - timedelta(days=days)).date())
    if not rows:
        click.echo(f"no beacon dropped in the last {days} days")
    for reason, count in rows:
        click.echo(f"{reason:<14} {count}")
