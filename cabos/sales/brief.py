"""The brief a salesperson reads before calling: who, how well they fit, which problems and how
intensely, what they read and downloaded, when and why they switched to purchase mode, and the
questions worth asking.

Everything comes from the stored intent state and history (no scan of the trail) plus two
small indexed queries (downloads, the latest touch), so a contact with 10,000 events costs
the same as one with ten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content.library import Library
from cabos.intent import explain
from cabos.intent.rules import Rules
from cabos.intent.scoring import Assessment, Item, from_stored
from cabos.intent.store import State, current_state, history
from cabos.tracking.models import Event

TOP_PROBLEMS = 3
DOWNLOADS = 20


@dataclass(frozen=True)
class Reading:
    """One piece of content as the brief shows it (its best reading counted)."""

    kind: str
    slug: str
    title: str
    stage: str | None
    stage_name: str
    visits: int
    engaged_ms: int
    share: float  # engagement share of a full read, 0..1
    value: float
    last_at: datetime
    evidence: bool


@dataclass(frozen=True)
class ProblemBrief:
    slug: str
    name: str
    value: float
    share: float  # of all interest, 0..1
    readings: tuple[Reading, ...]
    questions: tuple[str, ...]

    @property
    def engaged_ms(self) -> int:
        return sum(r.engaged_ms for r in self.readings)


@dataclass(frozen=True)
class Download:
    slug: str
    title: str
    at: datetime


@dataclass(frozen=True)
class Switch:
    """The last move into purchase mode: when, why, and the readings that made it."""

    at: datetime
    cause: str  # activity | decay | rules
    reason: str
    evidence: tuple[Reading, ...]


@dataclass(frozen=True)
class Brief:
    contact: Contact
    mode: str | None
    mode_since: datetime | None
    grade: str | None
    score: float
    fit_reason: str
    mode_reason: str
    problems: tuple[ProblemBrief, ...]
    interest: tuple[tuple[str, str, float], ...]  # (slug, name, value) of every problem, highest first
    downloads: tuple[Download, ...]
    switch: Switch | None
    latest_touch: dict[str, Any] = field(default_factory=dict)
    first_touch: dict[str, Any] = field(default_factory=dict)


def _reading(item: Item, library: Library) -> Reading:
    return Reading(item.kind, item.slug, explain.title_of(item, library), item.stage, library.stage_name(item.stage),
                   item.visits, item.engaged_ms, item.share, item.value, item.last_at,
                   item.evidence_at is not None)


def problem_name(library: Library, slug: str) -> str:
    return library.problems[slug].name if slug in library.problems else slug


def downloads(session: Session, contact_id: int, library: Library, limit: int = DOWNLOADS) -> list[Download]:
    """The guides the contact downloaded, newest first (one per guide)."""
    # `type || ''` is no index term: without ANALYZE statistics (cabos never runs it) SQLite would
    # otherwise read ix_events_type_time and walk every download of everyone (234 s for a contact with
    # none, at 5M events). SQLAlchemy does not render SQLite hints (`with_hint` was silently dropped).
    query = (select(Event.content_slug, Event.occurred_at)
             .where(Event.contact_id == contact_id, (Event.type + "") == "download")
             .order_by(Event.occurred_at.desc()).limit(limit * 5))
    seen: dict[str, datetime] = {}
    for slug, at in session.execute(query):
        if slug and slug not in seen:
            seen[slug] = at
    return [Download(slug, library.guides[slug].title if slug in library.guides else slug, at)
            for slug, at in list(seen.items())[:limit]]


def _switch(session: Session, contact_id: int, grade: str | None, fit_points: float | None, rules: Rules,
            library: Library) -> Switch | None:
    change = next((c for c in reversed(history(session, contact_id))
                   if c.kind == "mode" and c.to_value == "purchase"), None)
    if change is None:
        return None
    then = from_stored(change.occurred_at, change.evidence, grade, fit_points, rules)
    evidence = tuple(_reading(i, library) for i in then.items if i.evidence_at is not None)
    return Switch(change.occurred_at, change.cause, explain.mode_reason(then, rules, library), evidence)


def compose(session: Session, contact: Contact, library: Library, rules: Rules, now: datetime,
            state: State | None = None) -> Brief:
    """The brief of ``contact`` as of ``now``."""
    state = state if state is not None else current_state(session, contact.id, now, rules)
    a: Assessment | None = state.assessment if state is not None else None
    total = sum(v for _p, v in a.interest) if a is not None else 0.0
    problems: list[ProblemBrief] = []
    interest: list[tuple[str, str, float]] = []
    if a is not None:
        for slug, value in a.interest:
            interest.append((slug, problem_name(library, slug), value))
        for slug, value in a.interest[:TOP_PROBLEMS]:
            readings = tuple(_reading(i, library) for i in a.items if slug in i.problems)
            questions = library.problems[slug].questions if slug in library.problems else ()
            problems.append(ProblemBrief(slug, problem_name(library, slug), value, value / total if total else 0.0,
                                         readings, tuple(questions)))
    found = downloads(session, contact.id, library)
    return Brief(
        contact=contact,
        mode=a.mode if a is not None else None,
        mode_since=state.mode_since if state is not None else None,
        grade=a.grade if a is not None else None,
        score=a.score if a is not None else 0.0,
        fit_reason=explain.fit_reason(a, rules) if a is not None else "",
        mode_reason=explain.mode_reason(a, rules, library) if a is not None else "",
        problems=tuple(problems),
        interest=tuple(interest),
        downloads=tuple(found),
        switch=_switch(session, contact.id, a.grade if a else None, a.fit_points if a else None, rules, library),
        latest_touch=dict(contact.latest_touch or {}),
        first_touch=dict(contact.first_touch or {}),
    )


def brief_json(brief: Brief) -> dict[str, Any]:
    """The brief for webhooks and the API (times in ISO 8601 UTC)."""

    def reading(r: Reading) -> dict[str, Any]:
        return {"kind": r.kind, "slug": r.slug, "title": r.title, "stage": r.stage, "visits": r.visits,
                "engaged_ms": r.engaged_ms, "value": round(r.value, 3), "last_at": r.last_at.isoformat(),
                "evidence": r.evidence}

    return {
        "mode": brief.mode, "mode_since": brief.mode_since.isoformat() if brief.mode_since else None,
        "grade": brief.grade, "score": round(brief.score, 3), "fit": brief.fit_reason, "why_mode": brief.mode_reason,
        "problems": [{"slug": p.slug, "name": p.name, "interest": round(p.value, 3), "share": round(p.share, 3),
                      "readings": [reading(r) for r in p.readings], "questions": list(p.questions)}
                     for p in brief.problems],
        "downloads": [{"slug": d.slug, "title": d.title, "at": d.at.isoformat()} for d in brief.downloads],
        "purchase_mode": None if brief.switch is None else {
            "at": brief.switch.at.isoformat(), "cause": brief.switch.cause, "why": brief.switch.reason,
            "evidence": [reading(r) for r in brief.switch.evidence]},
        "latest_touch": brief.latest_touch, "first_touch": brief.first_touch,
    }
