"""The staff page of segments and broadcasts: each segment counted live with a sample of its members,
each broadcast with its segment, when it goes, what became of its sends, how many were clicked, and its
A/B subject test."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select

from cabos.content import current_library
from cabos.db import get_session
from cabos.nurture.audiences import audiences_of
from cabos.nurture.broadcasts import members, suppressed
from cabos.nurture.models import BroadcastRun, BroadcastSend
from cabos.nurture.subject_tests import broadcast_results
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section
from cabos.tracking.models import Event

ROLES = ("marketer",)  # and admins
SAMPLE = 10


@staff_required(*ROLES)
def index() -> str:
    session = get_session()
    library = current_library()
    found = audiences_of(library)
    segments = []
    for segment in found.segments.values():
        people = list(members(session, library, segment))
        gone = suppressed(session, people)
        segments.append((segment, len(people), len(people) - len(gone), people[:SAMPLE]))
    runs = {r.slug: r for r in session.scalars(select(BroadcastRun))}
    sends: dict[str, dict[str, int]] = {}
    for slug, status, count in session.execute(select(BroadcastSend.broadcast, BroadcastSend.status, func.count())
                                               .group_by(BroadcastSend.broadcast, BroadcastSend.status)):
        sends.setdefault(slug, {})[status] = count
    tests = {b.slug: broadcast_results(session, b.slug, b.test) for b in found.broadcasts.values() if b.test}
    broadcast = Event.data["broadcast"].as_string()  # one expression: PostgreSQL groups by what it selects
    clicks = dict(session.execute(select(broadcast, func.count(distinct(Event.data["send"].as_integer())))
                                  .where(Event.type == "email_click", broadcast.is_not(None))
                                  .group_by(broadcast)).all())
    return render_template("nurture/segments.html", segments=segments, broadcasts=list(found.broadcasts.values()),
                           runs=runs, sends=sends, sample=SAMPLE, tests=tests, clicks=clicks)


def init_app(app: Flask) -> None:
    bp = Blueprint("audiences", __name__, url_prefix="/staff/segments", template_folder="templates")
    bp.add_url_rule("/", "index", index, methods=["GET"])
    app.register_blueprint(bp)
    add_section(app, "audiences.index", _l("Segments"), ROLES, order=25,
                description=_l("Segments counted live with a sample of members; broadcasts and their sends"))
