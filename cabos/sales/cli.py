"""`cabos sales …`: deliver the outbox (webhooks and handoff emails)."""

from __future__ import annotations

import time
from datetime import timedelta

import click
from flask.cli import AppGroup
from flask import current_app

from cabos.db import session_scope, utcnow
from cabos.sales.webhooks import deliver_due, purge


@click.group("sales", cls=AppGroup)
def sales_group() -> None:
    """Handoffs to sales: webhooks and emails."""


@sales_group.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering every --every seconds (Ctrl+C to stop).")
@click.option("--every", default=30, show_default=True, type=click.IntRange(1, 3600))
def deliver(loop: bool, every: int) -> None:
    """Send the handoff emails and webhooks that are due (retries included)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    while True:
        counts = deliver_due(app)
        click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
        if not loop:
            return
        time.sleep(every)


@sales_group.command("purge-deliveries")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 36500))
def purge_deliveries(days: int) -> None:
    """Delete delivered and failed webhooks and emails older than --days from the delivery log."""
    with session_scope() as session:
        removed = purge(session, utcnow() - timedelta(days=days))
    click.echo(f"removed {removed} deliveries")


sales_group.add_command(deliver, "deliver-webhooks")  # the name the nurture worker docs use
