"""`cabos demo`: six months of simulated history, produced by cabos's own code paths.

Simulated people read the demo content over months through the app itself (the Flask
test client: page views, then the tracker's beacon to ``/t/e``), fill in guide forms
with their CSRF token and follow the download link, click links in the nurture emails
the nurture tick sends, and get re-scored by the intent update functions, which hand
purchase-mode contacts to sales through nurture and ``create_handoff``; salespeople then
record outcomes with ``record_outcome``. Nothing writes rows directly. The clock is
moved with ``time_machine`` because request handlers read it themselves.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from cabos import db
from cabos.contacts.models import Contact
from cabos.dashboard import rollup
from cabos.dashboard.simulation import Simulation, Summary
from cabos.schema import metadata
from cabos.staff import accounts

ADMIN_EMAIL = "admin@example.com"

AppFactory = Callable[[dict[str, Any]], Flask]


class DemoRefused(Exception):
    """The database already holds contacts: a demo would mix with real data."""


def demo_app(app: Flask, make_app: AppFactory, mail_folder: str) -> Flask:
    """An app on the same database and content, made for simulation: beacons written at once, no rate limits
    (every simulated browser comes from the test client), mail written to a scratch folder."""
    return make_app({
        "DATABASE_URL": app.config["DATABASE_URL"], "CONTENT_DIR": app.config["CONTENT_DIR"],
        "SECRET_KEY": app.config["SECRET_KEY"], "SITE_URL": app.config.get("SITE_URL"),
        "PDF_CACHE_DIR": app.config.get("PDF_CACHE_DIR"), "TRACKING_FLUSH_MS": 0,
        "TRACKING_RATE_LIMIT": "1000000 per minute", "FORM_RATE_LIMIT": "1000000 per minute",
        "RATELIMIT_ENABLED": False, "MAIL_BACKEND": "folder", "MAIL_FOLDER": mail_folder,
        "DOWNLOAD_EVENTS_FLUSH_MS": 0,
    })


def staff(app: Flask, now: datetime) -> str:
    """The demo admin (password returned, to print) and the sales and marketing team (passwords never shown)."""
    password = secrets.token_urlsafe(12)
    team = [("ana.marketing@example.com", "marketer", "Ana Marketing"),
            ("bruno.ventas@example.com", "sales", "Bruno Ventas"),
            ("carla.ventas@example.com", "sales", "Carla Ventas"),
            ("dario.ventas@example.com", "sales", "Darío Ventas")]
    with app.app_context(), db.session_scope(app) as session:
        if accounts.find(session, ADMIN_EMAIL) is None:
            accounts.create_user(session, ADMIN_EMAIL, "admin", password, "Demo Admin", now=now)
        else:
            admin = accounts.find(session, ADMIN_EMAIL)
            assert admin is not None
            accounts.set_password(admin, password)
        for email, role, name in team:
            if accounts.find(session, email) is None:
                accounts.create_user(session, email, role, secrets.token_urlsafe(16), name, now=now)
    return password


def settle(sim_app: Flask, rounds: int = 50) -> None:
    """Run every worker job (guide emails, the sales outbox…) into the scratch mail folder until nothing is left.

    What the simulated months queued was for their own time: a worker started after the demo
    (`./run.sh`) must not send months-old handoff alerts and guide links to the demo team.
    """
    jobs = dict(sim_app.extensions.get("cabos.worker_jobs", {}))
    for _ in range(rounds):
        with sim_app.app_context():
            for job in jobs.values():
                job(sim_app, lambda: False)
        if not backlog(sim_app):
            return


def backlog(app: Flask) -> int:
    """Emails and alerts still waiting to be sent: queued guide mails and pending sales deliveries."""
    with app.app_context(), db.session_scope(app) as session:
        return sum(session.scalar(select(func.count()).select_from(metadata.tables[name])
                                  .where(metadata.tables[name].c.status.in_(("queued", "pending")))) or 0
                   for name in ("guide_mails", "sales_deliveries") if name in metadata.tables)


def has_contacts(app: Flask) -> bool:
    with app.app_context(), db.session_scope(app) as session:
        return session.scalar(select(func.count()).select_from(Contact)) > 0


def run(app: Flask, make_app: AppFactory, days: int = 180, people: int = 240, seed: int = 7, force: bool = False,
        now: datetime | None = None) -> Summary:
    """Fill the database with ``days`` of simulated history ending ``now``; refuse if it has contacts.

    ``make_app`` is the site's app factory (``cabos.site.create_app``), passed in by the caller:
    the demo drives the whole site but, like the rest of the dashboard, never imports it.
    """
    started = time.perf_counter()
    if has_contacts(app) and not force:
        raise DemoRefused("the database already has contacts; `cabos demo --force` adds the demo history anyway")
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="cabos-demo-mail-") as mail_folder:
        sim_app = demo_app(app, make_app, mail_folder)
        # No app context around the run: each simulated request must get its own (and its own ``g``).
        with sim_app.app_context():
            library = sim_app.extensions["cabos.content"].current()
        password = staff(sim_app, start)
        sim = Simulation(sim_app, library, start, end, people, seed)
        for person in sim.make_people():
            sim.plan(person)
        sim.at(start.replace(hour=9, minute=0), sim.nurture_day)
        sim.run()
        settle(sim_app)
        with sim_app.app_context(), db.session_scope(sim_app) as session:
            rollup.refresh(session, datetime.now(UTC), library, full=True)
        sim_app.extensions["cabos.db"].engine.dispose()
    summary = sim.summary
    with app.app_context(), db.session_scope(app) as session:
        summary.contacts = session.scalar(select(func.count()).select_from(Contact)) or 0
    summary.password = password
    summary.seconds = time.perf_counter() - started
    return summary
