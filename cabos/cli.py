"""The `cabos` command: one click group; each feature brings its own commands."""

from __future__ import annotations

import os
import sys

import logging
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo
from werkzeug.serving import run_simple

from cabos import db, migrate
from cabos.doctor import LOCAL_HOSTS
from cabos.content.cli import check_command
from cabos.dashboard.cli import dashboard_group, demo_command
from cabos.doctor import doctor_command
from cabos.content.pdf import pdf_group
from cabos.intent.cli import intent_group
from cabos.contacts.cli import contacts_group
from cabos.tracking.cli import tracking_group
from cabos.staff.cli import users_group
from cabos.sales.cli import sales_group
from cabos.sales.crm.cli import crm_group
from cabos.nurture.broadcasts import broadcast_group
from cabos.nurture.cli import nurture_group, worker_command
from cabos.nurture.tick import start_in_background
from cabos.site.guide_mail import mail_group
from cabos.site.previews import preview_command
from cabos.nurture.bounces.cli import bounces_command, reviews_command

log = logging.getLogger("cabos")


def _create_app(*_args: object) -> object:
    from cabos.site import create_app  # the factory is only needed when a command runs

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def cli() -> None:
    """cabos: content, readers, intent, nurture, sales and revenue in one place."""


cli.add_command(check_command)
cli.add_command(dashboard_group)
cli.add_command(demo_command)
cli.add_command(doctor_command)
cli.add_command(pdf_group)
cli.add_command(intent_group)
cli.add_command(contacts_group)
cli.add_command(tracking_group)
cli.add_command(users_group)
cli.add_command(sales_group)
cli.add_command(crm_group)
cli.add_command(nurture_group)
cli.add_command(broadcast_group)
cli.add_command(worker_command)
cli.add_command(mail_group)
cli.add_command(preview_command)
mail_group.add_command(bounces_command)
mail_group.add_command(reviews_command)


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    database = db.database()
    migrate.upgrade(database.engine)
    click.echo(f"database is up to date: {database.engine.url.render_as_string(hide_password=True)}")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a migration for model changes (developers)."""
    migrate.revision(db.database().engine, message)


@cli.command("serve")
@click.option("--dev", is_flag=True, help="Flask's development server with content and code reload.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="gunicorn workers (default: 2 × cores + 1).")
def serve(dev: bool, host: str, port: int, workers: int | None) -> None:
    """Serve the site: gunicorn in production, --dev for development."""
    served = served_url(host, port)
    configured = str(current_app.config["SITE_URL"] or current_app.extensions["cabos.content"].library.site.base_url)
    if dev and not current_app.config["SITE_URL"] and not same_address(configured, served):
        # Development: emails, PDF covers and unsubscribe links follow the address the site answers on.
        current_app.config["SITE_URL"] = served
        log.warning("base URL %s (site.yml) is not where this site answers; in development links use %s. "
                    "Set CABOS_SITE_URL to choose.", configured, served)
    elif is_local(configured) and not same_address(configured, served):
        log.warning("the configured base URL %s does not match where the site answers (%s): links in emails and "
                    "PDFs will point elsewhere. Set CABOS_SITE_URL (or base_url in site.yml).", configured, served)
    if dev:
        current_app.config["CONTENT_RELOAD"] = True
        current_app.extensions["cabos.content"].reload_enabled = True
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        # No separate worker in development: a thread of this process runs its ticks (nurture, guide
        # emails, the sales outbox and alerts, the dashboard rollup), so ./run.sh shows the whole loop.
        start_in_background(app, interval=5.0)
        click.echo(f"cabos (development) on http://{host}:{port}/  (Ctrl+C to stop)")
        run_simple(host, port, app, use_reloader=False, threaded=True)
        return
    args = [sys.executable, "-m", "gunicorn", "--config", "python:cabos.gunicorn_conf",
            "--bind", f"{host}:{port}"]
    if workers:
        args += ["--workers", str(workers)]
    os.execv(sys.executable, [*args, "cabos.wsgi:app"])


def served_url(host: str, port: int) -> str:
    """The address a browser on this machine reaches `cabos serve --host --port` at."""
    shown = "localhost" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def same_address(a: str, b: str) -> bool:
    """Same scheme, port, and host (any two names of this machine count as the same host)."""
    x, y = urlsplit(a), urlsplit(b)
    try:
        ports = (x.port or (443 if x.scheme == "https" else 80), y.port or (443 if y.scheme == "https" else 80))
    except ValueError:
        return False
    hosts_match = x.hostname == y.hostname or (x.hostname in LOCAL_HOSTS and y.hostname in LOCAL_HOSTS)
    return x.scheme == y.scheme and ports[0] == ports[1] and hosts_match


def main() -> None:
    cli(obj=ScriptInfo(create_app=_create_app))
