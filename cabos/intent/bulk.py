"""Everyone at once: recompute, replay and backtest over every contact's trail, in chunks, on every core.

A rules change is argued with numbers and then applied to everyone, so these
passes over 100,000 contacts and millions of events must take seconds, not
minutes (bench/intent_rules_change.py). How:

* contacts go in id ranges (``id_ranges``); a range's trails are read with one
  query ordered by contact and time, columns as the driver gives them
  (``store._COLUMNS``), the stitched visitors' events with a second one;
* each range is scored in plain Python (``assess``, the same function the
  per-contact path calls: results are identical, tests/intent/test_bulk.py);
* ranges are spread over worker processes (``chunk_map``, ``fork``: they
  inherit the rules and the app context; each opens its own connections and
  only reads); the parent receives the results in range order and does every
  write itself, so a range's states, history and handoffs commit together, as
  they did with one process. JSON documents are encoded in the workers.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Engine, MetaData, String, Table, bindparam, cast, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from cabos.contacts.models import Contact
from cabos.intent.models import IntentChange, IntentState
from cabos.intent.rules import Rules
from cabos.intent.scoring import PURCHASE, SCORED_TYPES, Assessment, Reading, assess, evidence_json
from cabos.intent.store import (
    _COLUMNS,
    _PROFILE,
    NEVER,
    Change,
    _announce,
    _change_rows,
    _previous,
    _Previous,
    _state_values,
    extra_fields,
    fields_of,
    plan_changes,
    to_reading,
)
from cabos.tracking.models import Event, Visitor

T = TypeVar("T")


def default_workers() -> int:
    """Worker processes for a pass over everyone: one per core."""
    return max(1, os.cpu_count() or 1)


# --- reading -------------------------------------------------------------------------------------


def id_ranges(session: Session, size: int) -> list[tuple[int, int]]:
    """Contact ids in ``(first, last)`` ranges of ``size`` contacts, in order."""
    ids = session.scalars(select(Contact.id).order_by(Contact.id)).all()
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), max(1, size))]


def read_chunk(session: Session, lo: int, hi: int) -> list[tuple[Any, list[Reading]]]:
    """The contacts with ids in ``lo..hi``, each with their scored events in time order (read-only)."""
    people = session.execute(select(*_PROFILE).where(Contact.id.between(lo, hi)).order_by(Contact.id)).all()
    readings: dict[int, list[Reading]] = {p.id: [] for p in people}
    connection = session.connection()
    for query in _TRAIL_QUERIES:
        current, trail = None, None
        for row in _fetch_raw(connection, query, lo=lo, hi=hi):
            owner = row[0]
            if owner != current:
                current, trail = owner, readings.get(owner)
            if trail is not None:
                trail.append(to_reading(row))
    return [(p, readings[p.id]) for p in people]


# One pass along ix_events_contact_time; the rows come grouped by contact, already in the order the
# walk sorts them in (its sort is then linear). Then the events of visitors stitched to them.
_TRAIL_QUERIES = (
    select(Event.contact_id, *_COLUMNS)
    .where(Event.contact_id.between(bindparam("lo", 0), bindparam("hi", 0)), Event.type.in_(SCORED_TYPES))
    .order_by(Event.contact_id, Event.occurred_at, Event.id),
    select(Visitor.contact_id, *_COLUMNS).join(Visitor, Visitor.id == Event.visitor_id)
    .where(Visitor.contact_id.between(bindparam("lo", 0), bindparam("hi", 0)), Event.contact_id.is_(None),
           Event.type.in_(SCORED_TYPES)),
)
_COMPILED: dict[tuple[int, str], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _fetch_raw(connection: Any, query: Any, **params: Any) -> list[tuple[Any, ...]]:
    """All rows of ``query`` as the driver's own tuples.

    Millions of rows: SQLAlchemy's result layer (a Row per row, one fetch call each) cost as much as
    the database's own work. The columns need no conversion (``store._COLUMNS`` selects text), so the
    statement is compiled once per dialect and run on the DB-API cursor.
    """
    key = (id(query), connection.dialect.name)
    known = _COMPILED.get(key)
    if known is None:
        compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        known = _COMPILED[key] = (str(compiled), tuple(compiled.positiontup) if compiled.positional else None,
                                  dict(compiled.params))
    sql, order, defaults = known
    values = {**defaults, **params}
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, [values[k] for k in order] if order is not None else values)
        return cursor.fetchall()
    finally:
        cursor.close()


def contact_batches(session: Session, batch_size: int = 1000) -> Iterator[list[tuple[Any, list[Reading]]]]:
    """Contacts in id order, ``batch_size`` at a time, each with their readings (read-only)."""
    for lo, hi in id_ranges(session, batch_size):
        yield read_chunk(session, lo, hi)


# --- spreading ranges over processes ----------------------------------------------------------------

_JOB: dict[str, Any] = {}  # set before the fork: the workers inherit it, nothing is pickled but ranges


def _forkable(bind: Any) -> bool:
    if not isinstance(bind, Engine) or "fork" not in multiprocessing.get_all_start_methods():
        return False
    # An in-memory SQLite database exists in one connection only: a worker would see an empty one.
    return bind.dialect.name != "sqlite" or bind.url.database not in (None, "", ":memory:")


# A pass makes millions of small objects that live until their range is written (readings, items).
# With the default thresholds the cyclic collector ran about 200 times per 10,000 contacts, each
# time going through everything alive: 17-18 % of a replay or recompute (measured with gc.callbacks).
# During a pass it runs every 50,000 allocations, and never through what existed before (gc.freeze:
# the app, the library, the rules; in the workers this also keeps forked memory shared).
_PASS_THRESHOLDS = (50_000, 20, 100)


def _collect_less() -> tuple[int, int, int]:
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_PASS_THRESHOLDS)
    return before


def _collect_as_before(before: tuple[int, int, int]) -> None:
    gc.set_threshold(*before)
    gc.unfreeze()


def _start_worker() -> None:
    # The parent's pooled connections must never be used (or closed) from here.
    _JOB["engine"].dispose(close=False)
    _collect_less()


def _run_range(bounds: tuple[int, int]) -> Any:
    with Session(_JOB["engine"]) as session:
        try:
            return _JOB["fn"](session, *bounds, *_JOB["args"])
        finally:
            session.rollback()  # workers only read


def chunk_map(session: Session, fn: Callable[..., T], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
              workers: int = 1) -> Iterator[T]:
    """``fn(session, lo, hi, *args)`` for each range, results in range order; ``workers`` processes read in parallel.

    With one worker (or a database a second process cannot open) everything runs here, in ``session``.
    """
    bind = session.get_bind()
    before = _collect_less()
    try:
        if workers <= 1 or len(ranges) <= 1 or not _forkable(bind):
            for lo, hi in ranges:
                yield fn(session, lo, hi, *args)
            return
        _JOB.update(fn=fn, args=args, engine=bind)
        with multiprocessing.get_context("fork").Pool(min(workers, len(ranges)), initializer=_start_worker) as pool:
            yield from pool.imap(_run_range, ranges)
    finally:
        _JOB.clear()
        _collect_as_before(before)


# --- writing JSON encoded elsewhere ----------------------------------------------------------------


class _EncodedJSON(TypeDecorator[str]):
    """A JSON document already encoded (by a worker): PostgreSQL is told it is JSON."""

    impl = String
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, JSON)


_ENCODED = String().with_variant(_EncodedJSON(), "postgresql")


def _encoded_table(table: Table) -> Table:
    """``table`` with its JSON columns taking encoded text (for executemany without a second encoding)."""
    columns = []
    for column in table.columns:
        copy = column._copy()
        if isinstance(column.type, JSON):
            copy.type = _ENCODED
        copy.foreign_keys.clear()
        copy.constraints.clear()
        columns.append(copy)
    return Table(table.name, MetaData(), *columns)


_STATES = _encoded_table(IntentState.__table__)  # type: ignore[arg-type]
_CHANGES = _encoded_table(IntentChange.__table__)  # type: ignore[arg-type]
_EVENTS = _encoded_table(Event.__table__)  # type: ignore[arg-type]
_JSON_FIELDS = {"interest", "evidence", "problems", "data"}


class _Text(str):
    """A JSON document encoded already (``_encode`` leaves it as it is)."""


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v if k not in _JSON_FIELDS or isinstance(v, _Text) else json.dumps(v) for k, v in row.items()}


class _Evidence:
    """The encoded evidence of each assessment, once: a state and the changes it made share it."""

    def __init__(self) -> None:
        self.last: tuple[Assessment, _Text] | None = None

    def __call__(self, a: Assessment) -> _Text:
        if self.last is None or self.last[0] is not a:
            self.last = (a, _Text(json.dumps(evidence_json(a))))
        return self.last[1]


# --- recompute ---------------------------------------------------------------------------------------


@dataclass
class Progress:
    contacts: int = 0
    changes: int = 0
    moves: dict[tuple[str, str | None, str | None], int] = field(default_factory=dict)


@dataclass
class _Scored:
    """One range scored by a worker: the rows to write, and the changes to announce."""

    contacts: int = 0
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    trail: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[int, Assessment, list[Change], _Previous]] = field(default_factory=list)


def _score_range(session: Session, lo: int, hi: int, rules: Rules, now: datetime) -> _Scored:
    batch = read_chunk(session, lo, hi)
    out = _Scored(len(batch))
    stored = {r.contact_id: r for r in session.execute(
        select(IntentState.id, IntentState.contact_id, IntentState.mode, IntentState.grade,
               IntentState.computed_at, IntentState.fit_points, IntentState.rules_version,
               IntentState.mode_since, IntentState.grade_since)
        .where(IntentState.contact_id.between(lo, hi)))}
    # The evidence (the bulk of a row) is needed only where purchase mode may have lapsed.
    evidence = dict(session.execute(select(IntentState.contact_id, IntentState.evidence).where(
        IntentState.contact_id.between(lo, hi), IntentState.mode == PURCHASE)).all())
    extra = extra_fields(session, [person.id for person, _ in batch], now)
    encoded = _Evidence()
    for person, readings in batch:
        new = assess(readings, {**fields_of(person), **extra.get(person.id, {})}, rules, now)
        row = stored.get(person.id)
        prev = _previous(row.mode, row.grade, row.computed_at, evidence.get(person.id), row.fit_points,
                         row.rules_version, row.mode_since, row.grade_since, rules) if row else NEVER
        changes = plan_changes(prev, new, rules, now)
        values = _encode(_state_values(new, prev, changes, rules, encoded))
        if row is None:
            out.inserts.append({"contact_id": person.id, **values})
        else:
            out.updates.append({"_id": row.id, **values})
        if changes:
            history, trail = _change_rows(person.id, changes, now, encoded)
            out.history += map(_encode, history)
            out.trail += map(_encode, trail)
            out.changed.append((person.id, new, changes, prev))
    return out


def _write(session: Session, scored: _Scored) -> None:
    if scored.inserts:
        session.execute(insert(_STATES), scored.inserts)
    if scored.updates:
        columns = [k for k in scored.updates[0] if k != "_id"]
        session.execute(update(_STATES).where(_STATES.c.id == bindparam("_id"))
                        .values({k: bindparam(k) for k in columns}), scored.updates)
    if scored.history:
        session.execute(insert(_CHANGES), scored.history)
        session.execute(insert(_EVENTS), scored.trail)


def recompute(session: Session, rules: Rules, now: datetime, batch_size: int = 1000,
              workers: int = 1) -> Iterator[Progress]:
    """Re-score every contact under ``rules``, a range at a time; yields after each range (commit there).

    Changes are written and announced (``intent_changed``: handoffs) here, in ``session``, in range order.
    """
    progress = Progress()
    for scored in chunk_map(session, _score_range, id_ranges(session, batch_size), (rules, now), workers):
        _write(session, scored)
        for contact_id, new, changes, prev in scored.changed:
            _announce(session, contact_id, new, changes, prev, rules)
            for c in changes:
                key = (c.kind, c.from_value, c.to_value)
                progress.moves[key] = progress.moves.get(key, 0) + 1
        progress.contacts += scored.contacts
        progress.changes += len(scored.history)
        yield Progress(progress.contacts, progress.changes, dict(progress.moves))


def recompute_visitors(session: Session, rules: Rules, now: datetime, batch_size: int = 1000) -> Iterator[int]:
    """Re-score anonymous visitors that have a state row; yields the count after each batch."""
    last, done = "", 0
    while True:
        rows = session.execute(select(IntentState.id, IntentState.visitor_id).where(
            IntentState.visitor_id.is_not(None), IntentState.visitor_id > last)
            .order_by(IntentState.visitor_id).limit(batch_size)).all()
        if not rows:
            return
        ids = [r.visitor_id for r in rows]
        readings: dict[str, list[Reading]] = {v: [] for v in ids}
        query = select(Event.visitor_id, *_COLUMNS).where(Event.visitor_id.in_(ids), Event.type.in_(SCORED_TYPES))
        for row in session.execute(query).tuples():
            readings[row[0]].append(to_reading(row))
        values = []
        for r in rows:
            new = assess(readings[r.visitor_id], None, rules, now)
            values.append({"_id": r.id, **_encode(_state_values(new, _Previous(new.mode), (), rules))})
        columns = [k for k in values[0] if k != "_id"]
        session.execute(update(_STATES).where(_STATES.c.id == bindparam("_id"))
                        .values({k: bindparam(k) for k in columns}), values)
        done += len(rows)
        last = ids[-1]
        yield done
