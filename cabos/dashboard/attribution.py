"""Revenue attributed to content, guides, sequences and problems from the won contacts' trails.

A *touch* is, on the won contact's trail before the win: a reading of an article or page
with some engaged time, a guide download, or a click in a nurture email (its sequence).
Each won deal's revenue is shared among its touches by one of three methods:

- ``first``: all of it to the first touch;
- ``last``: all of it to the last touch before the handoff (the last before the win if
  there was none before the handoff);
- ``linear``: evenly among all touches.

A touch's share goes whole to its content (or sequence) and is split evenly among the
problems it was tagged with when it happened. A touch that carries no problem (a pricing or
demo page, a nurture email's click) is split evenly among the problems the contact read about
on the rest of that trail, so the page where people convert does not take the problems'
revenue; only a deal whose trail names no problem at all keeps it under ``NO_PROBLEM``. Pages
without problems are also reported apart, as *conversion pages*. A deal without touches stays
unattributed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from cabos.dashboard.metrics import Win, main_currency
from cabos.tracking.models import Event

METHODS = ("first", "last", "linear")
NO_PROBLEM = ""


class Touch(NamedTuple):
    at: datetime
    kind: str  # 'article' | 'page' | 'guide' | 'sequence'
    key: str  # content slug, or sequence name
    problems: tuple[str, ...]
    order: int = 0  # the event id: ties in time keep the order they were written in


@lru_cache(maxsize=4096)
def _parse_tags(text: str) -> tuple[str, ...]:
    value = json.loads(text)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def tags_of(value: object) -> tuple[str, ...]:
    """A stored ``problems`` value as a tuple: JSON text (SQLite), or a list (PostgreSQL's driver parses JSON)."""
    if isinstance(value, str):
        return _parse_tags(value)
    return tuple(value) if isinstance(value, list) else ()


def trails(session: Session, won: Sequence[Win]) -> dict[int, list[Touch]]:
    """The touches of each won contact, oldest first, up to their latest win in ``won``."""
    until: dict[int, datetime] = {}
    for w in won:
        until[w.contact_id] = max(until.get(w.contact_id, w.at), w.at)
    out: dict[int, list[Touch]] = defaultdict(list)
    ids = sorted(until)
    # ``coalesce(type, '')`` keeps the planner on the contacts' own index: a plain condition on
    # ``type`` could send it to the (type, occurred_at) index and every reading ever.
    kind_of = func.coalesce(Event.type, "")
    touch = or_(and_(kind_of == "reading", Event.engaged_ms > 0, Event.content_kind.in_(("article", "page"))),
                kind_of == "download")
    conn = session.connection()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        # Problems come as stored text: a trail repeats a few dozen tag lists, each parsed once.
        reads = (select(Event.contact_id, Event.occurred_at, Event.id, Event.type, Event.content_kind,
                        Event.content_slug, cast(Event.problems, Text))
                 .where(Event.contact_id.in_(chunk), touch))
        for contact_id, at, event_id, type_, kind, slug, problems in conn.execute(reads).all():
            if slug and at < until[contact_id]:
                out[contact_id].append(Touch(at, "guide" if type_ == "download" else kind, slug,
                                             tags_of(problems), event_id))
        # Only clicks carry what they need in ``data`` (their sequence): it is read for them alone.
        clicks = (select(Event.contact_id, Event.occurred_at, Event.id, Event.problems, Event.data)
                  .where(Event.contact_id.in_(chunk), kind_of == "email_click"))
        for contact_id, at, event_id, problems, data in conn.execute(clicks):
            sequence = str((data or {}).get("sequence") or "")
            if sequence and at < until[contact_id]:
                out[contact_id].append(Touch(at, "sequence", sequence, tuple(problems or ()), event_id))
    for touches in out.values():
        touches.sort(key=lambda t: (t.at, t.order))
    return dict(out)


def shares(touches: Sequence[Touch], handoff_at: datetime) -> dict[str, list[float]]:
    """Each method's share (0..1) for each touch of one deal; the shares of a method sum to 1."""
    n = len(touches)
    out = {m: [0.0] * n for m in METHODS}
    if not n:
        return out
    out["first"][0] = 1.0
    before = [i for i, t in enumerate(touches) if t.at < handoff_at]
    out["last"][before[-1] if before else n - 1] = 1.0
    out["linear"] = [1.0 / n] * n
    return out


@dataclass
class Credit:
    """Revenue (cents, may be fractional) one content, sequence or problem earned by each method."""

    kind: str  # 'article' | 'page' | 'guide' | 'sequence' | 'problem'
    key: str
    cents: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METHODS, 0.0))
    deals: int = 0  # won deals with at least one touch of it


@dataclass(frozen=True)
class Attribution:
    currency: str
    total_cents: int  # revenue won in the period (in ``currency``)
    unattributed_cents: int  # of which: deals with no touch
    deals: int
    items: tuple[Credit, ...]  # contents and sequences
    problems: tuple[Credit, ...]

    def sorted_items(self, method: str) -> list[Credit]:
        return sorted(self.items, key=lambda c: (-c.cents[method], c.kind, c.key))

    def sorted_problems(self, method: str) -> list[Credit]:
        return sorted(self.problems, key=lambda c: (-c.cents[method], c.key))

    def conversion_pages(self, method: str) -> list[Credit]:
        """Pages that carry no problem (pricing, demo), with the revenue of their touches."""
        return [c for c in self.sorted_items(method) if c.kind == "page"]


def attribute(won: Sequence[Win], touches: dict[int, list[Touch]]) -> Attribution:
    """Share each win's revenue among its touches, by every method at once."""
    currency = main_currency(won)
    items: dict[tuple[str, str], Credit] = {}
    problems: dict[str, Credit] = {}
    total = unattributed = deals = 0
    for w in won:
        if w.currency != currency:
            continue
        deals += 1
        total += w.revenue_cents
        trail = [t for t in touches.get(w.contact_id, ()) if t.at < w.at]
        if not trail:
            unattributed += w.revenue_cents
            continue
        split = shares(trail, w.handoff_at)
        touched_items: set[tuple[str, str]] = set()
        touched_problems: set[str] = set()
        read_about = tuple(dict.fromkeys(p for t in trail for p in t.problems)) or (NO_PROBLEM,)
        for i, t in enumerate(trail):
            item = items.get((t.kind, t.key))
            if item is None:
                item = items[(t.kind, t.key)] = Credit(t.kind, t.key)
            touched_items.add((t.kind, t.key))
            tags = t.problems or read_about
            for tag in tags:
                if tag not in problems:
                    problems[tag] = Credit("problem", tag)
            for method in METHODS:
                amount = w.revenue_cents * split[method][i]
                item.cents[method] += amount
                for tag in tags:
                    problems[tag].cents[method] += amount / len(tags)
            touched_problems.update(tags)
        for key in touched_items:
            items[key].deals += 1
        for tag in touched_problems:
            problems[tag].deals += 1
    return Attribution(currency, total, unattributed, deals, tuple(items.values()), tuple(problems.values()))
