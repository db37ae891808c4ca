"""The staff page of dropped beacons: per reason and per day, the last DAYS days.

A beacon dropped is answered 204 like any other (a sender learns nothing), so
this page (and ``cabos tracking drops``) is where staff see that bots, rate
limits or an overloaded database are eating readings.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Flask, render_template
from flask_babel import lazy_gettext as _l

from cabos.db import get_session, utcnow
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section
from cabos.tracking import ingest, trail
from cabos.tracking.beacon import ERROR

ROLES = ("marketer",)  # and admins: marketing runs the site's measurement
DAYS = 30

# What each reason means, for people (a reason not listed here is shown as it is stored).
REASONS: dict[str, Any] = {
    ingest.BOT: _l("Bots: crawlers, headless or scripted clients, automated browsers"),
    ingest.FOREIGN_HOST: _l("Sent from a page on another site"),
    ingest.UNKNOWN_VIEW: _l("Page token not ours, too old, or for content no longer served"),
    ingest.CONSENT: _l("Consent required and not given"),
    ingest.RATE_LIMIT: _l("Rate limit: too many beacons from one visitor or network"),
    ingest.OVERLOAD: _l("Overload: the write buffer was full (the database was not keeping up)"),
    ERROR: _l("Error: a bug, logged with its traceback"),
}


@staff_required(*ROLES)
def drops() -> str:
    since = (utcnow() - timedelta(days=DAYS)).date()
    session = get_session()
    totals = trail.drop_counts(session, since)
    days: dict[date, dict[str, int]] = {}
    for day, reason, count in trail.drops_by_day(session, since):
        days.setdefault(day, {})[reason] = count
    reasons = [r for r, _ in totals]
    return render_template("tracking/drops.html", days=DAYS, since=since, totals=totals, reasons=reasons,
                           by_day=list(days.items()), explain=REASONS, total=sum(n for _, n in totals))


def init_app(app: Flask) -> None:
    """Register /staff/tracking/drops and its place in the staff menu."""
    bp = Blueprint("tracking_staff", __name__, url_prefix="/staff/tracking")
    bp.add_url_rule("/drops", "drops", drops, methods=["GET"])
    app.register_blueprint(bp)
    add_section(app, "tracking_staff.drops", _l("Dropped beacons"), ROLES, order=70,
                description=_l("Readings the tracker refused, per reason and day: bots, rate limits, overload"))
