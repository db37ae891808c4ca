"""`cabos contacts export EMAIL`, `cabos contacts erase EMAIL`, `cabos contacts purge-pending`."""

from __future__ import annotations

import json
import sys

import click
from datetime import timedelta

from flask import current_app
from flask.cli import AppGroup

from cabos.contacts import personal_data, proof
from cabos.db import session_scope, utcnow


@click.group("contacts", cls=AppGroup)
def contacts_group() -> None:
    """People who identified themselves: privacy requests."""


@contacts_group.command("export")
@click.argument("email")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write the JSON here (default: standard output).")
def export_command(email: str, output: click.utils.LazyFile) -> None:
    """Everything we hold about EMAIL, as JSON (a data-subject access request)."""
    with session_scope() as session:
        data = personal_data.export(session, email)
    json.dump(data, output, ensure_ascii=False, indent=2, sort_keys=True)
    output.write("\n")
    if not data["found"]:
        click.echo(f"no contact with the address {data['email']}", err=True)
        sys.exit(1)


@contacts_group.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(email: str, yes: bool) -> None:
    """Remove EMAIL's contact, visitors, events, scores and sends; keep a hashed suppression entry."""
    if not yes:
        click.confirm(f"Erase everything about {email}? This cannot be undone", abort=True)
    with session_scope() as session:
        removed = personal_data.erase(session, email)
    total = sum(removed.values())
    details = ", ".join(f"{table}: {n}" for table, n in sorted(removed.items()) if n) or "nothing was held"
    click.echo(f"erased {total} rows ({details}); the address is suppressed (kept as a hash)")


@contacts_group.command("purge-pending")
def purge_pending_command() -> None:
    """Delete form answers whose emailed confirmation expired unclicked (run it daily, like tracking purge)."""
    before = utcnow() - timedelta(seconds=int(current_app.config["CONFIRM_LINK_MAX_AGE"]))
    with session_scope() as session:
        removed = proof.purge_unconfirmed(session, before)
    click.echo(f"removed {removed} unconfirmed form answers sent before {before:%Y-%m-%d %H:%M} UTC")
