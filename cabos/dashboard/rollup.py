"""Keep the daily rollup: rebuild the last days from the trail on each refresh, idempotently.

Why it stays correct
--------------------
The rollup stores, for closed days only (up to yesterday, UTC), exactly what
``readers.window`` and ``reach.contact_days`` compute from the trail. The dashboard reads
stored days up to ``through`` and computes the days after it live with the same
functions, so no figure depends on when the refresh last ran, and
``tests/dashboard/test_rollup.py`` checks rollup + live == live alone == COUNT DISTINCT.

A day's rows change only when something is added on or before that day:

- readings are written at their page view's start, at most 24 hours before the beacon
  that carries them, and their depth grows while the view lasts; so each refresh rebuilds
  at least the last ``days`` closed days (default 3), and always every day since the last
  refresh, whatever the gap;
- a contact's earlier anonymous readings join their trail when they identify on another
  device (a ``merge`` event): the days on which such contacts identified, or first entered
  purchase mode, are rebuilt too.

Each refresh deletes the rows of the days it rebuilds and writes them again in one
transaction: running it twice, or after missing runs, gives the same rows.

What it deliberately does not follow: events removed later (``cabos tracking purge``, a
contact's erasure) stay counted in the days they happened, as any report of the past
would; per-problem and per-author counts of contacts use the library's tags as of the
refresh. ``cabos dashboard refresh --full`` recounts everything from what remains.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import Library
from cabos.dashboard import reach, readers
from cabos.dashboard.models import HISTOGRAM_BUCKETS, ContactDay, ContentDay, ReaderDay, Refresh
from cabos.dashboard.period import Period
from cabos.tracking.models import Event

NAME = "readers"
REBUILD_CHUNK_DAYS = 31
REFRESH_EVERY = timedelta(hours=1)  # how often the worker rebuilds the last days
ContactRow = tuple[str, str, str, int]  # measure, dimension, key, contacts


@dataclass(frozen=True)
class RefreshResult:
    first: date | None  # first day rebuilt (None: nothing to do)
    through: date | None
    reader_rows: int
    content_rows: int
    contact_rows: int


def _insert_all(session: Session, table: object, rows: list[dict]) -> int:
    for i in range(0, len(rows), 5000):
        session.execute(insert(table), rows[i:i + 5000])  # type: ignore[arg-type]
    return len(rows)


def _store_window(session: Session, win: readers.Window) -> tuple[int, int]:
    reader_rows = [{"chain": c, "day": d, "prev_day": p, "visitors": n}
                   for (c, d, p), n in sorted(win.reader_days.items())]
    content_rows = [{"day": d, "content_kind": k, "content_slug": s, "readings": v[0], "read_to_end": v[1],
                     "downloads": v[3], **{f"b{i}": n for i, n in enumerate(v[2])}}
                    for (d, k, s), v in sorted(win.content_days.items())]
    return (_insert_all(session, ReaderDay.__table__, reader_rows),
            _insert_all(session, ContentDay.__table__, content_rows))


def _store_contacts(session: Session, counts: dict[reach.Key, int]) -> int:
    rows = [{"day": d, "measure": m, "dimension": dim, "key": k, "contacts": n}
            for (d, m, dim, k), n in sorted(counts.items())]
    return _insert_all(session, ContactDay.__table__, rows)


def _chunks(first: date, last: date, size: int) -> Iterator[tuple[date, date]]:
    while first <= last:
        end = min(last, first + timedelta(days=size - 1))
        yield first, end
        first = end + timedelta(days=1)


def _merged_days(session: Session, since: datetime, before: date) -> set[date]:
    """Days before ``before`` whose contacts gained older readings (a merge) since ``since``."""
    merged = select(Event.contact_id).where(Event.type == "merge", Event.occurred_at >= since,
                                            Event.contact_id.is_not(None)).distinct().subquery()
    days: set[date] = set()
    for (at,) in session.execute(select(Contact.created_at).join(merged, merged.c.contact_id == Contact.id)):
        days.add(at.date())
    sub = reach.first_purchase_entries(readers.day_start(date(1970, 1, 1)), readers.day_start(before)).subquery()
    for (at,) in session.execute(select(sub.c.at).join(merged, merged.c.contact_id == sub.c.contact_id)):
        days.add(readers._day(at))
    return {d for d in days if d < before}


def refresh(session: Session, now: datetime, library: Library, days: int = 3, full: bool = False) -> RefreshResult:
    """Rebuild the rollup from the right day up to yesterday (``full``: from the first event)."""
    through = now.date() - timedelta(days=1)
    state = session.get(Refresh, NAME, with_for_update=True)
    rebuild = full or state is None
    if rebuild:
        first_at = session.scalar(select(func.min(Event.occurred_at)))
        first = first_at.date() if first_at is not None else through + timedelta(days=1)
        for model in (ReaderDay, ContentDay, ContactDay):
            session.execute(delete(model))
    else:
        first = min(state.through + timedelta(days=1), through - timedelta(days=max(1, days) - 1))
        for model in (ReaderDay, ContentDay, ContactDay):
            session.execute(delete(model).where(model.day >= first))
    totals = [0, 0, 0]
    if rebuild:
        # Chronological chunks; each visitor's last day is carried forward instead of looked up.
        carried: dict[str, dict[str, date]] = {"all": {}, "engaged": {}}
        for a, b in _chunks(first, through, REBUILD_CHUNK_DAYS):
            win = readers.window(session, a, b, previous=carried)
            for chain, last in readers.last_days(session, a, b).items():
                carried[chain].update(last)
            r, c = _store_window(session, win)
            totals[0] += r
            totals[1] += c
            totals[2] += _store_contacts(session, reach.contact_days(session, a, b, library))
    elif first <= through:
        totals[0], totals[1] = _store_window(session, readers.window(session, first, through))
        totals[2] = _store_contacts(session, reach.contact_days(session, first, through, library))
        for day in sorted(_merged_days(session, readers.day_start(first), first)):
            session.execute(delete(ContactDay).where(ContactDay.day == day))
            totals[2] += _store_contacts(session, reach.contact_days(session, day, day, library))
    if state is None:
        session.add(Refresh(name=NAME, through=through, refreshed_at=now))
    else:
        state.through, state.refreshed_at = through, now
    session.flush()
    return RefreshResult(first if first <= through else None, through, *totals)


def due(session: Session, now: datetime) -> bool:
    """Whether the worker should refresh: never refreshed, yesterday missing, or an hour since the last time."""
    state = session.get(Refresh, NAME)
    return (state is None or state.through < now.date() - timedelta(days=1)
            or now - state.refreshed_at >= REFRESH_EVERY)


def stored_through(session: Session) -> date | None:
    """The last day the rollup holds, or None if it was never refreshed."""
    state = session.get(Refresh, NAME)
    return state.through if state is not None else None


@dataclass(frozen=True)
class Rows:
    """What the dashboard reads for a period: stored days, then the days after them computed live."""

    session: Session
    through: date | None  # last stored day
    live_readers: list[readers.ReaderRow]
    contents: list[readers.ContentRow]
    contacts: list[ContactRow]
    identified_by_day: dict[date, int]  # contacts created per day of the period

    def readers(self, first: date, last: date) -> dict[str, int]:
        """Distinct readers ('all', 'engaged') in ``first``..``last`` (inside the loaded period)."""
        counts = readers.count_readers(self.live_readers, first, last)
        if self.through is not None and first <= self.through:
            # A visitor's first reading day inside [first, last] is the one whose previous day is before it.
            query = (select(ReaderDay.chain, func.sum(ReaderDay.visitors))
                     .where(ReaderDay.day >= first, ReaderDay.day <= min(last, self.through),
                            ReaderDay.prev_day < first)
                     .group_by(ReaderDay.chain))
            for chain, n in self.session.connection().execute(query):
                counts[chain] += int(n or 0)
        return counts


def load(session: Session, period: Period, library: Library) -> Rows:
    """Content rows and contact rows for ``period``, and what counts its readers."""
    through = stored_through(session)
    live_readers: list[readers.ReaderRow] = []
    content_rows: list[readers.ContentRow] = []
    contact_rows: list[ContactRow] = []
    identified_by_day: dict[date, int] = {}
    if through is not None and period.start <= through:
        last = min(period.end, through)
        table = ContentDay.__table__
        buckets = [func.sum(table.c[f"b{i}"]) for i in range(HISTOGRAM_BUCKETS)]
        contents = (select(table.c.content_kind, table.c.content_slug, func.sum(table.c.readings),
                           func.sum(table.c.read_to_end), func.sum(table.c.downloads), *buckets)
                    .where(table.c.day >= period.start, table.c.day <= last)
                    .group_by(table.c.content_kind, table.c.content_slug))
        content_rows.extend((k, s, int(n), int(e), [int(b) for b in hist], int(dl))
                            for k, s, n, e, dl, *hist in session.connection().execute(contents).all())
        contacts = (select(ContactDay.measure, ContactDay.dimension, ContactDay.key, func.sum(ContactDay.contacts))
                    .where(ContactDay.day >= period.start, ContactDay.day <= last)
                    .group_by(ContactDay.measure, ContactDay.dimension, ContactDay.key))
        contact_rows.extend((m, dim, k, int(n)) for m, dim, k, n in session.connection().execute(contacts))
        per_day = (select(ContactDay.day, ContactDay.contacts)
                   .where(ContactDay.measure == "identified", ContactDay.dimension == "all",
                          ContactDay.day >= period.start, ContactDay.day <= last))
        identified_by_day.update({d: int(n) for d, n in session.connection().execute(per_day)})
    live_from = period.start if through is None else max(period.start, through + timedelta(days=1))
    if live_from <= period.end:
        win = readers.window(session, live_from, period.end)
        live_readers.extend((c, d, p, n) for (c, d, p), n in win.reader_days.items())
        content_rows.extend((k, s, v[0], v[1], v[2], v[3]) for (_d, k, s), v in win.content_days.items())
        for (d, m, dim, k), n in reach.contact_days(session, live_from, period.end, library).items():
            contact_rows.append((m, dim, k, n))
            if m == "identified" and dim == "all":
                identified_by_day[d] = identified_by_day.get(d, 0) + n
    return Rows(session, through, live_readers, content_rows, contact_rows, identified_by_day)
