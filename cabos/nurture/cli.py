"""`cabos nurture run|preview|simulate|stuck` and `cabos worker`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from cabos import db
from cabos.content import current_library
from cabos.nurture.outbox import resolve, stuck
from cabos.nurture.preview import preview, simulate
from cabos.nurture.sequences import format_duration, nurture_of
from cabos.nurture.tick import Worker, run_tick


@click.group("nurture")
def nurture_group() -> None:
    """Nurture sequences: run a tick, preview, simulate, sends in doubt."""


@nurture_group.command("run")
@click.option("--no-send", is_flag=True, help="Enrol and queue only; leave delivery to another run.")
@with_appcontext
def run_command(no_send: bool) -> None:
    """One tick: enrol, queue what is due, deliver (safe under cron, even overlapping)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    report = run_tick(app, send=not no_send)
    click.echo(report.summary())


@nurture_group.command("preview")
@click.argument("sequence")
@click.option("--contact", "email", required=True, help="The contact's email address.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False), default=None,
              help="Also write each message's HTML to this folder.")
@with_appcontext
def preview_command(sequence: str, email: str, html_dir: str | None) -> None:
    """Exactly what SEQUENCE has sent and will send to one contact, and when."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = db.utcnow()
    with db.session_scope() as session:
        try:
            result = preview(session, app, current_library(), sequence, email, now)
        except LookupError as exc:
            click.secho(str(exc), fg="red")
            sys.exit(1)
        seq = result.sequence
        click.secho(f"{seq.name} ({seq.source}) for {result.contact.email}", bold=True)
        click.echo(f"  trigger: {seq.trigger.describe()}; exits: {', '.join(sorted(seq.exits))}; "
                   f"re-entry: {seq.reentry}"
                   + (f" after {format_duration(seq.reentry_after)}" if seq.reentry == "after" else ""))
        if not result.enrolled:
            click.echo("  not enrolled: as if they entered now")
        for n, step in enumerate(result.steps, start=1):
            when = _when(step.due_at, now)
            line = f"{n}. [{step.step}] {step.email} · {when} · {step.status}"
            click.secho(line + (f" ({step.reason})" if step.reason else ""), bold=True,
                        fg="green" if step.status in ("sent", "will send") else None)
            if step.composed is not None:
                click.echo(f"   Subject: {step.composed.subject}")
                if step.composed.preheader:
                    click.echo(f"   Preheader: {step.composed.preheader}")
                click.echo("   " + step.composed.text.rstrip().replace("\n", "\n   "))
                if html_dir:
                    path = Path(html_dir) / f"{n:02d}-{step.step}.html"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(step.composed.html, encoding="utf-8")
                    click.echo(f"   HTML: {path}")
            click.echo("")
        click.echo(f"then: {result.ending}")


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    delta = moment - now
    stamp = moment.strftime("%Y-%m-%d %H:%M UTC")
    if abs(delta.total_seconds()) < 60:
        return f"{stamp} (now)"
    days = delta.total_seconds() / 86400
    return f"{stamp} ({'in ' if days > 0 else ''}{abs(days):.1f} days{' ago' if days < 0 else ''})"


@nurture_group.command("simulate")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@with_appcontext
def simulate_command(days: int) -> None:
    """For the contacts in sequences now: emails per step and exits over the next DAYS days."""
    library = current_library()
    with db.session_scope() as session:
        forecasts = simulate(session, library, db.utcnow(), days)
    nurture = nurture_of(library)
    click.echo(f"next {days} days, assuming nobody reads anything new:")
    for slug, forecast in sorted(forecasts.items()):
        click.secho(f"{slug}: {forecast.contacts} contacts enrolled", bold=True)
        for step in nurture.sequences[slug].steps:
            f = forecast.steps[step.id]
            skips = ", ".join(f"{k} {v}" for k, v in sorted(f.skips.items()))
            line = f"  {step.id:<32} {step.email:<36} sends {f.sends:>7,}"
            click.echo(line + (f"   skips: {skips}" if skips else ""))
        exits = ", ".join(f"{k} {v:,}" for k, v in sorted(forecast.exits.items())) or "none"
        click.echo(f"  exits: {exits}")


@nurture_group.command("stuck")
@click.option("--limit", default=100, show_default=True)
@click.option("--mark", type=click.Choice(["sent", "failed", "requeue"]), default=None,
              help="Decide about one row (with --id): it arrived, leave it, or send it again.")
@click.option("--id", "row_id", type=int, default=None)
@with_appcontext
def stuck_command(limit: int, mark: str | None, row_id: int | None) -> None:
    """Sends whose delivery is unknown (a sender died mid-send): never resent unless you say so."""
    with db.session_scope() as session:
        if mark:
            if row_id is None:
                raise click.UsageError("--mark needs --id")
            try:
                row = resolve(session, row_id, mark, db.utcnow())
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"outbox row {row.id}: {row.status}")
            return
        rows = stuck(session, limit)
        if not rows:
            click.echo("no sends in doubt")
            return
        click.echo(f"{len(rows)} sends in doubt (status unknown):")
        for row in rows:
            at = row.sending_at.strftime("%Y-%m-%d %H:%M") if row.sending_at else "—"
            click.echo(f"  #{row.id} contact {row.contact_id} {row.sequence}/{row.step} ({row.email}) "
                       f"since {at}: {row.reason} {row.error}")
        click.echo("check the mail server's log for these, then: cabos nurture stuck --id N --mark sent|failed|requeue")


@click.command("worker")
@click.option("--interval", type=float, default=None, help="Seconds between ticks (default: WORKER_INTERVAL).")
@click.option("--ticks", type=int, default=None, help="Stop after this many ticks (default: run until SIGTERM).")
@with_appcontext
def worker_command(interval: float | None, ticks: int | None) -> None:
    """Run ticks in a loop (nurture, then other parts' jobs); SIGTERM stops it cleanly."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    Worker(app, interval).run(ticks)
