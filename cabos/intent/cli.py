"""`cabos intent …`: recompute everyone, replay candidate rules, explain one contact."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos import db
from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.content.library import Library
from cabos.intent import backtest as backtesting
from cabos.intent import explain
from cabos.intent.replay import render, replay
from cabos.intent.rules import FILE, rules_of
from cabos.intent.rulesfile import load_rules_file
from cabos.intent.scoring import assess
from cabos.intent.bulk import default_workers, recompute, recompute_visitors
from cabos.intent.store import contact_readings, current_state, fields_of, history


@click.group("intent")
def intent_group() -> None:
    """Intent: interest by problem, fit grade, information or purchase mode."""


def _warn_if_broken(library: Library) -> None:
    broken = [i for i in library.errors if i.file == FILE]
    if broken:
        click.secho(f"{FILE} has {len(broken)} errors (run `cabos check`): using the last valid rules", fg="yellow")


def _workers_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option("--workers", type=click.IntRange(min=1), default=default_workers, show_default="one per core",
                        help="Processes that read and score contacts in parallel.")(command)


@contextlib.contextmanager
def _progress(session: Session, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (the report on stdout stays clean to pipe); advance(contacts done)."""
    total = session.scalar(select(func.count()).select_from(Contact)) or 0
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        done = [0]

        def advance(count: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        yield advance


@intent_group.command("recompute")
@click.option("--visitors", is_flag=True, help="Also re-score anonymous visitors' interest profiles.")
@click.option("--batch-size", default=1000, show_default=True, help="Contacts per transaction.")
@_workers_option
@with_appcontext
def recompute_command(visitors: bool, batch_size: int, workers: int) -> None:
    """Re-score every contact (after intent.yml changed) and record who changed mode or grade."""
    library = current_library()
    _warn_if_broken(library)
    rules = rules_of(library)
    now = db.utcnow()
    session = db.database().sessions()
    try:
        progress = None
        with _progress(session, "contacts") as advance:
            for progress in recompute(session, rules, now, batch_size, workers):
                session.commit()
                advance(progress.contacts)
        visitor_count = 0
        if visitors:
            for visitor_count in recompute_visitors(session, rules, now, batch_size):
                session.commit()
    finally:
        session.close()
    contacts = progress.contacts if progress else 0
    click.echo(f"recomputed {contacts:,} contacts with {rules.source} (rules {rules.version})"
               + (f" and {visitor_count:,} visitors" if visitors else ""))
    for (kind, before, after), count in sorted((progress.moves if progress else {}).items(),
                                               key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))):
        click.echo(f"  {kind} {before or '—'} → {after or '—'}: {count:,}")


@intent_group.command("replay")
@click.option("--rules", "rules_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Candidate rules file (same format as intent.yml).")
@click.option("--sample", default=5, show_default=True, help="Contacts shown per kind of move.")
@click.option("--batch-size", default=1000, show_default=True, help="Contacts read at a time.")
@_workers_option
@with_appcontext
def replay_command(rules_file: str, sample: int, batch_size: int, workers: int) -> None:
    """Show how many contacts candidate rules would move, and who and why; changes nothing."""
    library = current_library()
    _warn_if_broken(library)
    candidate, issues = load_rules_file(Path(rules_file), library,
                                        content_root=Path(current_app.config["CONTENT_DIR"]))
    for issue in issues:
        click.secho(str(issue), fg="red" if issue.severity == "error" else "yellow")
    if candidate is None:
        click.secho(f"{rules_file} has errors: nothing replayed", fg="red", bold=True)
        sys.exit(1)
    session = db.database().sessions()
    try:
        with _progress(session, "contacts") as advance:
            report = replay(session, rules_of(library), candidate, db.utcnow(), sample, batch_size, workers, advance)
    finally:
        session.rollback()  # read-only by construction; make it so even if that changes
        session.close()
    for line in render(report, rules_of(library), candidate, library):
        click.echo(line)


@intent_group.command("backtest")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False),
              help="Candidate rules file to compare with intent.yml (same format).")
@click.option("--batch-size", default=1000, show_default=True, help="Contacts read at a time.")
@_workers_option
@with_appcontext
def backtest_command(rules_file: str | None, batch_size: int, workers: int) -> None:
    """Replay the rules over the stored history and score them against the outcomes sales recorded."""
    library = current_library()
    _warn_if_broken(library)
    rule_sets = [rules_of(library)]
    if rules_file:
        candidate, issues = load_rules_file(Path(rules_file), library,
                                            content_root=Path(current_app.config["CONTENT_DIR"]))
        for issue in issues:
            click.secho(str(issue), fg="red" if issue.severity == "error" else "yellow", err=True)
        if candidate is None:
            click.secho(f"{rules_file} has errors: nothing backtested", fg="red", bold=True, err=True)
            sys.exit(1)
        rule_sets.append(candidate)
    now = db.utcnow()
    session = db.database().sessions()
    try:
        with _progress(session, "contacts") as advance:
            scores = backtesting.backtest(session, rule_sets, now, batch_size, progress=advance, workers=workers)
    finally:
        session.rollback()  # read-only by construction
        session.close()
    for line in backtesting.render(scores, now):
        click.echo(line)


@intent_group.command("explain")
@click.argument("email")
@with_appcontext
def explain_command(email: str) -> None:
    """Say why a contact is in their mode and grade: readings, signals, fit rules, history."""
    library = current_library()
    rules = rules_of(library)
    now = db.utcnow()
    with db.session_scope() as session:
        contact = session.scalar(select(Contact).where(func.lower(Contact.email) == email.strip().lower()))
        if contact is None:
            click.secho(f"no contact with email {email}", fg="red")
            sys.exit(1)
        state = current_state(session, contact.id, now, rules)
        if state is None:
            click.echo("(not scored yet: scored now, nothing stored)")
            assessment = assess(contact_readings(session, contact.id), fields_of(contact), rules, now)
        else:
            assessment = state.assessment
        click.echo(f"{contact.email}: {assessment.mode} mode, grade {assessment.grade}, "
                   f"score {explain.num(assessment.score)}")
        for line in explain.summary(assessment, rules, library):
            click.echo(f"  {line}")
        if assessment.items:
            click.echo("Readings that count:")
            for line in explain.details(assessment, library):
                click.echo(f"  {line}")
        changes = history(session, contact.id)
        if changes:
            click.echo("History:")
            for c in changes:
                click.echo(f"  {explain.describe_change(c.kind, c.from_value, c.to_value, c.occurred_at, c.cause)}")
