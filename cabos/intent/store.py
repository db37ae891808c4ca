"""Intent state in the database: update after a new event, decay on read, history, recompute.

Other parts call ``update_contact(session, contact_id, now)`` (or
``update_after_event``) once a reading, download or form is stored; it
re-scores that one person from their trail (one indexed query), stores the
assessment, and records every change of mode or grade in ``intent_changes``
and on the trail (``mode_change`` / ``grade_change`` events). Reading a state
(``current_state``) applies decay to the stored values, so a quiet contact
drifts back to information mode with no batch job; the next update records the
moment it happened ("returned to information mode on …, no recent activity").

Nothing here commits: the caller's edge does.

**Handoff hook**: ``intent_changed`` (a blinker signal) is sent with
``update=IntentUpdate`` whenever a contact's mode or grade changes.
``update.became_eligible`` is true when the contact just met the handoff rule
(``should_hand_off``: purchase mode and grade ≥ ``handoff.min_grade``); the
nurture/sales part connects there to stop sequences and create the handoff.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blinker import Namespace
from flask import current_app, has_app_context
from sqlalchemy import Row, String, case, cast, insert, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.intent.contributions import decay
from cabos.intent.models import IntentChange, IntentState
from cabos.intent.rules import Rules, current_rules
from cabos.intent.scoring import (
    DETAILED_TYPES,
    INFORMATION,
    PURCHASE,
    SCORED_TYPES,
    Assessment,
    Reading,
    assess,
    evidence_json,
    from_stored,
    lapse_time,
    profile_fields,
    should_hand_off,
)
from cabos.tracking.models import Event, Visitor

intent_changed = Namespace().signal("cabos.intent.changed")

# The data of hand-raisers and outcomes only (form, message, outcome kind): the other millions of
# rows need none of it.
_DETAIL = case((Event.type.in_(DETAILED_TYPES), cast(Event.data, String)), else_=None).label("detail")


class _IsoText(FunctionElement[str]):
    """A UTC timestamp column as ISO text: parsed in ``_utc``, ten times cheaper than SQLAlchemy's conversion."""

    type = String()
    inherit_cache = True


@compiles(_IsoText)
def _iso_text(element: _IsoText, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # SQLite stores ISO text already


@compiles(_IsoText, "postgresql")
def _iso_text_pg(element: _IsoText, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


# Reading millions of rows (a full recompute) costs mostly per-row conversion: the time comes as
# text (``_IsoText``), the problems as text parsed once per distinct list.
_COLUMNS = (Event.id, Event.type, _IsoText(Event.occurred_at).label("occurred_at"),
            Event.content_kind, Event.content_slug, Event.stage, cast(Event.problems, String).label("problems"),
            Event.engaged_ms, _DETAIL)
_PROFILE = (Contact.id, Contact.email, Contact.name, Contact.company, Contact.role, Contact.company_size,
            Contact.country, Contact.custom)


@dataclass(frozen=True)
class Change:
    """One change of mode or grade, at the moment it happened."""

    kind: str  # 'mode' | 'grade'
    from_value: str | None
    to_value: str | None
    at: datetime
    cause: str  # 'activity' | 'decay' | 'rules'
    assessment: Assessment


@dataclass(frozen=True)
class IntentUpdate:
    """What an update found for one contact; sent with ``intent_changed``."""

    contact_id: int
    assessment: Assessment
    changes: tuple[Change, ...]
    eligible: bool  # meets the handoff rule now
    became_eligible: bool  # … and did not before this update
    rules: Rules | None = None  # the rules that decided it (pass them on to current_state)

    @property
    def mode(self) -> str:
        return self.assessment.mode

    @property
    def grade(self) -> str | None:
        return self.assessment.grade


@dataclass(frozen=True)
class State:
    """A stored state brought to ``now``: decay applied, and since when it holds."""

    assessment: Assessment
    computed_at: datetime
    mode_since: datetime
    grade_since: datetime | None
    rules_version: str

    @property
    def mode(self) -> str:
        return self.assessment.mode

    @property
    def grade(self) -> str | None:
        return self.assessment.grade

    @property
    def score(self) -> float:
        return self.assessment.score

    @property
    def interest(self) -> dict[str, float]:
        return self.assessment.problems


# --- reading the trail ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _problems_of(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw) or ())


def _problems(value: Any) -> tuple[str, ...]:
    # Selected as text (see _COLUMNS): the same few lists repeat millions of times, so each
    # is parsed once instead of once per row.
    if isinstance(value, str):
        return _problems_of(value)
    return tuple(value or ())


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value + "+00:00")  # one C call; .replace(tzinfo=) costs 5× more
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def to_reading(row: Row[Any] | tuple[Any, ...]) -> Reading:
    """A row of ``_COLUMNS`` (possibly after an owner column) as a Reading (scroll and read-to-end: not scored)."""
    id_, type_, occurred_at, kind, slug, stage, problems, engaged_ms, detail = row[-9:]
    return Reading(_utc(occurred_at), kind, slug, stage, _problems(problems), engaged_ms or 0, 0, False, type_, id_,
                   _detail(detail) if detail is not None else None)


def _detail(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def contact_readings(session: Session, contact_id: int) -> list[Reading]:
    """The contact's scored events, plus those of their visitors not yet stitched to them."""
    own = select(*_COLUMNS).where(Event.contact_id == contact_id, Event.type.in_(SCORED_TYPES))
    stitched = (select(*_COLUMNS).join(Visitor, Visitor.id == Event.visitor_id)
                .where(Visitor.contact_id == contact_id, Event.contact_id.is_(None), Event.type.in_(SCORED_TYPES)))
    return [to_reading(r) for r in session.execute(own)] + [to_reading(r) for r in session.execute(stitched)]


def visitor_readings(session: Session, visitor_id: str) -> list[Reading]:
    query = select(*_COLUMNS).where(Event.visitor_id == visitor_id, Event.type.in_(SCORED_TYPES))
    return [to_reading(r) for r in session.execute(query)]


# Other parts add fields the fit rules can read, computed from what they own (sales: the contact's
# account): ``app.extensions[FIELD_SOURCES][name] = source``, ``source(session, contact_ids, now)``
# → ``{contact_id: {field: value}}``. Their names are in ``rules.DERIVED_FIELDS``.
FIELD_SOURCES = "cabos.intent.field_sources"


def extra_fields(session: Session, contact_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """The registered sources' fields for these contacts (none outside an app)."""
    out: dict[int, dict[str, Any]] = {}
    if not contact_ids or not has_app_context():
        return out
    for source in current_app.extensions.get(FIELD_SOURCES, {}).values():
        for contact_id, fields in source(session, contact_ids, now).items():
            out.setdefault(contact_id, {}).update(fields)
    return out


def fields_of(row: Any) -> dict[str, Any]:
    """A contact (model or row) as the fields fit rules see."""
    base = {"name": row.name, "company": row.company, "role": row.role, "company_size": row.company_size,
            "country": row.country}
    return profile_fields(row.email, base, row.custom)


# --- what changed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """The stored state before an update; the stored assessment only when purchase mode could have lapsed."""

    mode: str = INFORMATION
    grade: str | None = None
    computed: bool = False  # False: never scored before
    rules_version: str = ""
    mode_since: datetime | None = None
    grade_since: datetime | None = None
    purchase: Assessment | None = None


NEVER = _Previous()


def _previous(mode: str, grade: str | None, computed_at: datetime, evidence: dict[str, Any] | None,
              fit_points: float | None, rules_version: str, mode_since: datetime | None,
              grade_since: datetime | None, rules: Rules) -> _Previous:
    if not rules_version:
        return NEVER
    # Only a stored purchase mode can lapse quietly; only then is the evidence needed.
    stored = from_stored(computed_at, evidence or {}, grade, fit_points, rules) if mode == PURCHASE else None
    return _Previous(mode, grade, True, rules_version, mode_since, grade_since, stored)


def plan_changes(prev: _Previous, new: Assessment, rules: Rules, now: datetime) -> list[Change]:
    """The changes between the stored state and ``new``, each at the moment it happened."""
    cause = "rules" if prev.computed and prev.rules_version != rules.version else "activity"
    changes: list[Change] = []
    mode = prev.mode
    if mode == PURCHASE and prev.purchase is not None:
        lapsed = lapse_time(prev.purchase, rules)
        if lapsed is not None and prev.purchase.as_of < lapsed <= now:
            # Quietly fell back since the last update: record it when it happened.
            changes.append(Change("mode", PURCHASE, INFORMATION, lapsed, "decay", prev.purchase.at(lapsed, rules)))
            mode = INFORMATION
    if new.mode != mode:
        # Recorded when the system saw it (handoffs and deadlines count from then), not back-dated.
        changes.append(Change("mode", mode, new.mode, now, cause, new))
    if new.grade != prev.grade:
        changes.append(Change("grade", prev.grade, new.grade, now, cause, new))
    return changes


def _state_values(a: Assessment, prev: _Previous, changes: Sequence[Change], rules: Rules,
                  evidence_of: Callable[[Assessment], Any] = evidence_json) -> dict[str, Any]:
    mode_since = next((c.at for c in reversed(changes) if c.kind == "mode"), prev.mode_since or a.as_of)
    grade_since = next((c.at for c in changes if c.kind == "grade"), prev.grade_since)
    return {"score": a.score, "mode": a.mode, "grade": a.grade, "fit_points": a.fit_points,
            "interest": dict(a.interest), "evidence": evidence_of(a), "evidence_until": a.evidence_until,
            "computed_at": a.as_of, "mode_since": mode_since, "grade_since": grade_since,
            "rules_version": rules.version}


def _change_rows(contact_id: int, changes: Sequence[Change], now: datetime,
                 evidence_of: Callable[[Assessment], Any] = evidence_json) -> tuple[list[dict], list[dict]]:
    history, trail = [], []
    for c in changes:
        # A mode change keeps the readings that decided it (the brief's "why now"); a grade change keeps
        # what explains a grade, the fit (a first scoring records 100,000 of them: 5 KB each saved).
        evidence = evidence_of(c.assessment) if c.kind == "mode" else evidence_json(c.assessment, items=False)
        history.append({"contact_id": contact_id, "occurred_at": c.at, "kind": c.kind, "from_value": c.from_value,
                        "to_value": c.to_value, "cause": c.cause, "score": c.assessment.score,
                        "evidence": evidence, "recorded_at": now})
        trail.append({"type": f"{c.kind}_change", "occurred_at": c.at, "contact_id": contact_id,
                      "problems": [p for p, _ in c.assessment.interest[:3]],
                      "data": {"from": c.from_value, "to": c.to_value, "cause": c.cause,
                               "score": round(c.assessment.score, 2), "grade": c.assessment.grade,
                               "evidence_count": c.assessment.evidence_count}})
    return history, trail


def _write_changes(session: Session, contact_id: int, changes: Sequence[Change], now: datetime) -> None:
    history, trail = _change_rows(contact_id, changes, now)
    if history:
        session.execute(insert(IntentChange), history)
        session.execute(insert(Event), trail)


def _announce(session: Session, contact_id: int, a: Assessment, changes: Sequence[Change], prev: _Previous,
              rules: Rules) -> IntentUpdate:
    eligible = should_hand_off(a, rules)
    # Eligibility just before this update: after any quiet lapse, before the new activity.
    mode_before = next((c.from_value for c in changes if c.kind == "mode" and c.cause != "decay"), a.mode)
    was = prev.computed and should_hand_off(_Previous(mode_before or INFORMATION, prev.grade), rules)
    update_ = IntentUpdate(contact_id, a, tuple(changes), eligible, eligible and not was, rules)
    if changes:
        intent_changed.send(session, update=update_)
    return update_


# --- one person at a time -------------------------------------------------------------------------


def _locked_row(session: Session, **key: Any) -> IntentState:
    """The person's state row, created if missing, locked for this transaction where the database can."""
    dialect = session.get_bind().dialect.name
    (column, value), = key.items()
    if dialect in ("postgresql", "sqlite"):
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(IntentState)
        session.execute(ins.values(**key).on_conflict_do_nothing(index_elements=[column]))
    elif session.scalar(select(IntentState.id).where(getattr(IntentState, column) == value)) is None:
        session.add(IntentState(**key))
        session.flush()
    query = (select(IntentState).where(getattr(IntentState, column) == value)
             .with_for_update().execution_options(populate_existing=True))
    return session.scalars(query).one()


def update_contact(session: Session, contact_id: int, now: datetime, rules: Rules | None = None) -> IntentUpdate | None:
    """Re-score one contact after a new reading or form; store it and record any change."""
    rules = rules or current_rules()
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None
    fields = {**fields_of(contact), **extra_fields(session, [contact_id], now).get(contact_id, {})}
    new = assess(contact_readings(session, contact_id), fields, rules, now)
    row = _locked_row(session, contact_id=contact_id)
    prev = _previous(row.mode, row.grade, row.computed_at, row.evidence, row.fit_points, row.rules_version,
                     row.mode_since, row.grade_since, rules)
    changes = plan_changes(prev, new, rules, now)
    for name, value in _state_values(new, prev, changes, rules).items():
        setattr(row, name, value)
    _write_changes(session, contact_id, changes, now)
    session.flush()
    return _announce(session, contact_id, new, changes, prev, rules)


def update_visitor(session: Session, visitor_id: str, now: datetime, rules: Rules | None = None) -> Assessment | None:
    """Re-score an anonymous visitor: interest and score for recommendations, no grade, no history."""
    rules = rules or current_rules()
    if session.get(Visitor, visitor_id) is None:
        return None
    new = assess(visitor_readings(session, visitor_id), None, rules, now)
    row = _locked_row(session, visitor_id=visitor_id)
    since = row.mode_since if row.rules_version and row.mode == new.mode else now
    for name, value in _state_values(new, _Previous(new.mode, mode_since=since), (), rules).items():
        setattr(row, name, value)
    session.flush()
    return new


def update_after_event(session: Session, event: Event, now: datetime, rules: Rules | None = None) -> IntentUpdate | None:
    """After storing an event: update the visitor's profile and, if known, the contact's."""
    if event.type not in SCORED_TYPES:
        return None
    rules = rules or current_rules()
    contact_id = event.contact_id
    if event.visitor_id is not None:
        update_visitor(session, event.visitor_id, now, rules)
        if contact_id is None:
            contact_id = session.scalar(select(Visitor.contact_id).where(Visitor.id == event.visitor_id))
    return update_contact(session, contact_id, now, rules) if contact_id is not None else None


def _state(row: IntentState | None, now: datetime, rules: Rules) -> State | None:
    if row is None or not row.rules_version:
        return None
    stored = from_stored(row.computed_at, row.evidence, row.grade, row.fit_points, rules)
    current = stored.at(now, rules)
    mode_since = row.mode_since
    if row.mode == PURCHASE and current.mode == INFORMATION:
        mode_since = lapse_time(stored, rules) or row.computed_at
    return State(current, row.computed_at, mode_since, row.grade_since, row.rules_version)


def mode_and_interest_at(mode: str, interest: dict[str, float], computed_at: datetime, evidence_until: datetime | None,
                         now: datetime, rules: Rules) -> tuple[str, dict[str, float]]:
    """A stored state's mode and interest at ``now``, from its columns alone (what ``current_state`` gives,
    without rebuilding the evidence): every item decays by the same factor, so interest does too, and
    purchase mode ends when its recent evidence runs out."""
    if now <= computed_at:
        return mode, interest
    factor = decay(now - computed_at, rules)
    if mode == PURCHASE and evidence_until is not None and evidence_until <= now:
        mode = INFORMATION
    return mode, {p: float(v) * factor for p, v in interest.items()}


def current_state(session: Session, contact_id: int, now: datetime, rules: Rules | None = None) -> State | None:
    """The contact's state at ``now``: stored values with decay applied (no events read)."""
    row = session.scalar(select(IntentState).where(IntentState.contact_id == contact_id))
    return _state(row, now, rules or current_rules())


def current_states(session: Session, contact_ids: list[int], now: datetime,
                   rules: Rules | None = None) -> dict[int, State]:
    """``current_state`` of many contacts in one statement (those without a state are left out)."""
    rules = rules or current_rules()
    states = {}
    for row in session.scalars(select(IntentState).where(IntentState.contact_id.in_(contact_ids))):
        state = _state(row, now, rules)
        if state is not None:
            states[row.contact_id] = state  # type: ignore[index]
    return states


def current_visitor_state(session: Session, visitor_id: str, now: datetime, rules: Rules | None = None) -> State | None:
    """An anonymous visitor's interest at ``now`` (decay applied)."""
    row = session.scalar(select(IntentState).where(IntentState.visitor_id == visitor_id))
    return _state(row, now, rules or current_rules())


def history(session: Session, contact_id: int) -> list[IntentChange]:
    """Every change of mode and grade of one contact, oldest first."""
    query = (select(IntentChange).where(IntentChange.contact_id == contact_id)
             .order_by(IntentChange.occurred_at, IntentChange.id))
    return list(session.scalars(query))
