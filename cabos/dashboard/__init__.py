"""The shared dashboard: one funnel measured in revenue, attribution, content, people, time; `cabos demo`."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from cabos import db
from cabos.dashboard import rollup, routes

WORKER_JOBS = "cabos.worker_jobs"  # the worker (`cabos worker`) runs these after each nurture tick


def refresh_job(app: Flask, stop: Callable[[], bool]) -> None:
    """The worker's job: keep the daily rollup fresh (at most once an hour; a read when nothing is due)."""
    now = db.utcnow()
    with db.session_scope(app) as session:
        if rollup.due(session, now):
            rollup.refresh(session, now, app.extensions["cabos.content"].current())


def init_app(app: Flask) -> None:
    routes.init_app(app)
    app.extensions.setdefault(WORKER_JOBS, {})["dashboard-refresh"] = refresh_job
