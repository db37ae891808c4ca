"""The store step: write a batch of readings, view counts and drop counts in one transaction.

Every statement is a bulk one (executemany or ``IN``), so a batch of hundreds of beacons
costs a handful of round trips. Rows are touched in one global order (visitors by id,
events by view id, counters by key) so two workers flushing at once never deadlock, and
the visitor rows are written first: they are the lock ``identity.identify`` takes too, so
a reading is either committed before a stitch attaches it, or written after with the
visitor's contact already known.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.tracking.models import ContentView, DropCount, Event, Visitor


# last_seen_at only drives the purge of anonymous visitors, counted in days: moving it at most
# once an hour spares the visitors table (and its index) a write for almost every batch.
LAST_SEEN_STEP = timedelta(hours=1)


@dataclass
class Reading:
    """One accepted beacon, validated and enriched: everything the store writes."""

    kind: str
    slug: str
    stage: str | None
    problems: list[str]
    received_at: datetime
    started_at: datetime      # when the page view began (received minus the page's age)
    first_send: bool          # the page view's first beacon: counts one view
    visitor_id: str | None = None  # None: aggregate only (DNT/GPC, declined)
    view_id: str | None = None
    engaged_ms: int = 0
    scroll_pct: int = 0
    read_to_end: bool = False
    touch: dict[str, Any] = field(default_factory=dict)  # where this page view came from
    campaign: bool = False    # the touch names a campaign or an outside referrer
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        return self.visitor_id is not None


def coalesce(readings: Iterable[Reading]) -> list[Reading]:
    """One reading per page view: depth only grows, the first send's start and touch win."""
    out: dict[str, Reading] = {}
    for r in readings:
        if r.view_id is None:
            continue
        seen = out.get(r.view_id)
        if seen is None:
            out[r.view_id] = r
            continue
        if r.engaged_ms >= seen.engaged_ms:
            seen.data = r.data
        seen.engaged_ms = max(seen.engaged_ms, r.engaged_ms)
        seen.scroll_pct = max(seen.scroll_pct, r.scroll_pct)
        seen.read_to_end = seen.read_to_end or r.read_to_end
        seen.first_send = seen.first_send or r.first_send
        seen.started_at = min(seen.started_at, r.started_at)
    return [out[k] for k in sorted(out)]


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def ensure_visitors(session: Session, touches: Mapping[str, dict[str, Any]], now: datetime) -> None:
    """Create the visitor rows that do not exist yet; a new one's first touch is ``touches[id]``."""
    if not touches:
        return
    rows = [{"id": vid, "contact_id": None, "created_at": now, "last_seen_at": now,
             "first_touch": touch, "latest_touch": touch} for vid, touch in sorted(touches.items())]
    stmt = _insert(session, Visitor.__table__).on_conflict_do_nothing(index_elements=["id"])
    session.execute(stmt, rows)


def write_batch(session: Session, readings: list[Reading], drops: Mapping[tuple[date, str], int]) -> list[int]:
    """Write readings, view counts and drop counts; return the contacts whose latest touch moved.

    The caller commits; ``touch_contacts`` then runs in its own short transaction so this one
    never holds a contact row's lock (a form submit holds it while it takes the visitor's).
    """
    personal = coalesce(r for r in readings if r.personal)
    now = max((r.received_at for r in readings), default=None)
    moved: list[int] = []
    if personal and now is not None:
        postgres = session.get_bind().dialect.name == "postgresql"
        if not postgres:
            # Take SQLite's write lock before reading: identify() writes too, so it either
            # committed before (we see the visitor's contact below) or waits for our commit.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        first: dict[str, Reading] = {}
        for r in sorted(personal, key=lambda r: r.started_at):
            first.setdefault(r.visitor_id, r)  # type: ignore[arg-type]
        ids = sorted(first)
        table = Visitor.__table__
        query = (select(table.c.id, table.c.contact_id, table.c.latest_touch, table.c.last_seen_at)
                 .where(table.c.id.in_(ids)).order_by(table.c.id))
        # PostgreSQL: the same ordering by row locks, taken in id order (no deadlock between workers).
        rows = session.execute(query.with_for_update() if postgres else query).all()
        ensure_visitors(session, {v: first[v].touch for v in set(ids) - {row.id for row in rows}}, now)
        stale = [row.id for row in rows if now - row.last_seen_at > LAST_SEEN_STEP]
        if stale:
            session.execute(update(table).where(table.c.id.in_(stale)).values(last_seen_at=now))
        contacts = {row.id: row.contact_id for row in rows}
        moved = _move_latest_touch(session, [r for r in personal if r.campaign], contacts,
                                   {row.id: row.latest_touch for row in rows})
        _upsert_readings(session, personal, contacts)
    _count_views(session, readings)
    _count_drops(session, drops)
    return moved


def _move_latest_touch(session: Session, campaign: list[Reading], contacts: Mapping[str, int | None],
                       current: Mapping[str, dict[str, Any] | None]) -> list[int]:
    latest: dict[str, Reading] = {}
    for r in sorted(campaign, key=lambda r: r.started_at):
        latest[r.visitor_id] = r  # type: ignore[index]
    # Only forward: every beacon of a campaign page view repeats its touch, and a late
    # beacon from an older page view must not replace a newer one.
    forward = [(v, r) for v, r in sorted(latest.items())
               if str((current.get(v) or {}).get("at") or "") < str(r.touch.get("at") or "")]
    if not forward:
        return []
    table = Visitor.__table__
    session.execute(update(table).where(table.c.id == bindparam("visitor")).values(latest_touch=bindparam("touch")),
                    [{"visitor": v, "touch": r.touch} for v, r in forward])
    return sorted({c for v, _ in forward if (c := contacts.get(v)) is not None})


def touch_contacts(session: Session, contact_ids: list[int]) -> None:
    """Carry the visitors' latest touch to their contacts (after a batch moved some)."""
    for contact_id in contact_ids:
        contact = session.get(Contact, contact_id)
        if contact is None:
            continue
        touches = session.scalars(select(Visitor.latest_touch).where(Visitor.contact_id == contact_id)).all()
        best = max((t for t in [contact.latest_touch, *touches] if t and t.get("at")),
                   key=lambda t: str(t["at"]), default=None)
        if best is not None and best != contact.latest_touch:
            contact.latest_touch = dict(best)


# The batch's main statement, written out: it runs for every reading, and handing the
# driver ready-made rows (executemany) skips SQLAlchemy's per-row processing, about a third
# of a flush. Depth only grows, whatever order the beacons arrive in; a reading keeps the
# contact it was first written with.
_UPSERT = """
INSERT INTO events (type, occurred_at, visitor_id, contact_id, view_id, content_kind, content_slug, stage,
                    problems, engaged_ms, scroll_pct, read_to_end, data)
VALUES ({values})
ON CONFLICT (view_id) DO UPDATE SET
    engaged_ms = {greatest}(events.engaged_ms, excluded.engaged_ms),
    scroll_pct = {greatest}(events.scroll_pct, excluded.scroll_pct),
    read_to_end = events.read_to_end OR excluded.read_to_end,
    data = CASE WHEN excluded.engaged_ms >= events.engaged_ms THEN excluded.data ELSE events.data END,
    contact_id = COALESCE(events.contact_id, excluded.contact_id)
"""
_UPSERT_SQL = {
    "sqlite": _UPSERT.format(values=", ".join(["?"] * 13), greatest="max"),
    "postgresql": _UPSERT.format(values=", ".join(["%s"] * 8 + ["CAST(%s AS JSON)"] + ["%s"] * 3
                                                  + ["CAST(%s AS JSON)"]), greatest="GREATEST"),
}
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores times in SQLite


def _upsert_readings(session: Session, readings: list[Reading], contacts: Mapping[str, int | None]) -> None:
    dialect = session.get_bind().dialect.name
    sqlite_db = dialect == "sqlite"
    rows = []
    for r in readings:
        at = r.started_at.astimezone(UTC).replace(tzinfo=None)
        rows.append(("reading", at.strftime(SQLITE_TIME) if sqlite_db else at, r.visitor_id,
                     contacts.get(r.visitor_id), r.view_id, r.kind, r.slug, r.stage,  # type: ignore[arg-type]
                     json.dumps(r.problems), r.engaged_ms, r.scroll_pct,
                     int(r.read_to_end) if sqlite_db else r.read_to_end, json.dumps(r.data)))
    session.connection().exec_driver_sql(_UPSERT_SQL[dialect], rows)


def _count_views(session: Session, readings: list[Reading]) -> None:
    views: Counter[tuple[date, str, str]] = Counter()
    untracked: Counter[tuple[date, str, str]] = Counter()
    for r in readings:
        if r.first_send:
            key = (r.received_at.date(), r.kind, r.slug)
            views[key] += 1
            if not r.personal:
                untracked[key] += 1
    if not views:
        return
    table = ContentView.__table__
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=["day", "content_kind", "content_slug"], set_={
        "views": table.c.views + stmt.excluded.views, "untracked": table.c.untracked + stmt.excluded.untracked})
    session.execute(stmt, [{"day": d, "content_kind": k, "content_slug": s, "views": n, "untracked": untracked[(d, k, s)]}
                           for (d, k, s), n in sorted(views.items())])


def _count_drops(session: Session, drops: Mapping[tuple[date, str], int]) -> None:
    if not drops:
        return
    table = DropCount.__table__
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=["day", "reason"],
                                      set_={"count": table.c.count + stmt.excluded.count})
    session.execute(stmt, [{"day": d, "reason": r, "count": n} for (d, r), n in sorted(drops.items())])
