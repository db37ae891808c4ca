"""`cabos crm …`: check the connection and mapping, and backfill."""

from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from cabos.db import utcnow
from cabos.sales.crm import sync
from cabos.sales.crm.base import CrmError
from cabos.sales.crm.mapping import CRMS


@click.group("crm", cls=AppGroup)
def crm_group() -> None:
    """The sales team's CRM (HubSpot, Pipedrive, Salesforce): test, sync."""


def _names(only: str | None) -> list[str]:
    names = list(sync.mappings())
    if not names:
        raise click.ClickException("content/crm.yml names no CRM: add a hubspot, pipedrive or salesforce section "
                                   "(see docs/crm.md)")
    if only:
        if only not in names:
            raise click.ClickException(f"content/crm.yml has no {only} section (it names: {', '.join(names)})")
        return [only]
    return names


@crm_group.command("test")
@click.option("--crm", "only", type=click.Choice(CRMS), help="Test only this CRM.")
def test_command(only: str | None) -> None:
    """Check the credentials and the mapping against each CRM; say what is wrong and how to fix it."""
    failed = False
    for name, mapping in ((n, sync.mappings()[n]) for n in _names(only)):
        crm = sync.connector(name, current_app.config, mapping)
        problems = list(mapping.errors)
        if problems:
            problems.append("run `cabos check` to see every mistake in content/crm.yml with its line")
        else:
            try:
                problems = crm.check()
            except CrmError as exc:
                problems = [exc.words()]
        if problems:
            failed = True
            click.secho(f"{crm.label}: {len(problems)} problem(s)", fg="red")
            for p in problems:
                click.echo(f"  - {p}")
        else:
            click.secho(f"{crm.label}: credentials work; pipeline, stage and fields of content/crm.yml exist.",
                        fg="green")
    raise SystemExit(1 if failed else 0)


@crm_group.command("sync")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Backfill: push handoffs made since this day and read deal changes since then (UTC).")
@click.option("--crm", "only", type=click.Choice(CRMS), help="Only this CRM.")
def sync_command(since: datetime | None, only: str | None) -> None:
    """Push what is due and read deal changes back (the worker does this on its own)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    names = _names(only)
    moment = since.replace(tzinfo=timezone.utc) if since is not None else None
    if moment is not None:
        queued = sync.backfill(app, moment)
        click.echo(f"queued {queued} handoff(s) made since {moment.date().isoformat()}")
    counts = sync.deliver_due(app, utcnow(), limit=10_000)
    click.echo("pushed: " + " ".join(f"{k}={v}" for k, v in counts.items()))
    failed = False
    for name in names:
        try:
            found = sync.poll(app, name, since=moment)
        except CrmError as exc:
            failed = True
            click.secho(f"{name}: could not read deal changes: {exc.words()}", fg="red")
            continue
        click.echo(f"{name}: " + " ".join(f"{k}={v}" for k, v in found.items()))
    raise SystemExit(1 if failed else 0)
