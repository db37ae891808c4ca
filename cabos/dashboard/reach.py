"""Which content people had read by the time they identified, or first entered purchase mode.

For a range of days: every contact created in it, and every contact whose *first* entry
into purchase mode falls in it, with the contents (and their problems and authors, as the
library tags them now) they had read by then: a reading with some engaged time, a guide
download or a guide's form. Counted per day, so any period is a sum of days (each contact
reaches each measure once).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import Library
from cabos.dashboard.readers import day_start
from cabos.intent.models import IntentChange
from cabos.tracking.models import Event

KINDS = ("article", "guide", "page")


def read(type_: str, engaged_ms: int | None) -> bool:
    """A reading with some engaged time, a guide download or a guide's form: the person read it."""
    return (type_ == "reading" and (engaged_ms or 0) > 0) or type_ in ("download", "form_submit")

Key = tuple[date, str, str, str]  # day, measure, dimension, key


def first_purchase_entries(since: datetime, until: datetime) -> Select[tuple[int, datetime]]:
    """Contacts whose first entry into purchase mode is in [since, until): (contact_id, at)."""
    first = func.min(IntentChange.occurred_at)
    return (select(IntentChange.contact_id, first.label("at"))
            .where(IntentChange.kind == "mode", IntentChange.to_value == "purchase")
            .group_by(IntentChange.contact_id).having(first >= since, first < until))


def _read_before(session: Session, moments: dict[int, datetime], inclusive: bool) -> dict[int, set[tuple[str, str]]]:
    out: dict[int, set[tuple[str, str]]] = defaultdict(set)
    ids = sorted(moments)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        until = max(moments[c] for c in chunk)
        # ``coalesce(type, '')`` keeps the planner on the contacts' own index (see attribution.trails).
        kind_of = func.coalesce(Event.type, "")
        query = (select(Event.contact_id, Event.occurred_at, Event.type, Event.content_kind, Event.content_slug,
                        Event.engaged_ms)
                 .where(Event.contact_id.in_(chunk), Event.occurred_at <= until,
                        kind_of.in_(("reading", "download", "form_submit"))))
        for contact_id, at, type_, kind, slug, engaged_ms in session.connection().execute(query):
            if kind not in KINDS or not slug or not read(type_, engaged_ms):
                continue
            moment = moments[contact_id]
            if at < moment or (inclusive and at == moment):
                out[contact_id].add((kind, slug))
    return out


def contact_days(session: Session, first: date, last: date, library: Library) -> Counter[Key]:
    """(day, measure, dimension, key) → contacts, for ``first``..``last``.

    Dimension 'all' (key '') counts every contact that reached the measure that day.
    """
    since, until = day_start(first), day_start(last + timedelta(days=1))
    out: Counter[Key] = Counter()
    created = dict(session.connection().execute(select(Contact.id, Contact.created_at)
                                   .where(Contact.created_at >= since, Contact.created_at < until)).all())
    entered = dict(session.connection().execute(first_purchase_entries(since, until)).all())
    for moment in created.values():
        out[(moment.date(), "identified", "all", "")] += 1  # every contact, whatever they read
    for measure, moments, inclusive in (("identified", created, True), ("purchase", entered, False)):
        for contact_id, items in _read_before(session, moments, inclusive).items():
            day = moments[contact_id].date()
            problems: set[str] = set()
            authors: set[str] = set()
            for kind, slug in items:
                out[(day, measure, "content", f"{kind}:{slug}")] += 1
                doc = library.document(kind, slug)  # type: ignore[arg-type]
                if doc is not None:
                    problems.update(doc.problems)
                    if doc.author:
                        authors.add(doc.author)
            for problem in problems:
                out[(day, measure, "problem", problem)] += 1
            for author in authors:
                out[(day, measure, "author", author)] += 1
    return out
