"""Everyone at once (recompute, replay, backtest over ranges and processes) says what one at a time says."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cabos.content.library import Library
from cabos.intent.backtest import backtest
from cabos.intent.bulk import recompute
from cabos.intent.models import IntentChange, IntentState
from cabos.intent.replay import replay
from cabos.intent.rules import Rules
from cabos.intent.store import contact_readings, update_contact
from cabos.intent.timeline import walk, walk_many
from cabos.tracking.models import Event
from tests.intent.conftest import (
    COMPARE,
    DECIDE,
    HEAD_OF_OPS,
    LEARN,
    NOW,
    STUDENT,
    Journey,
    add_contact,
    add_events,
    add_visitor,
)

LATER = NOW + timedelta(days=30)  # past the silence that ends purchase mode, with new reading for some


def varied_history(session: Session, library: Library) -> list[int]:
    """Buyers, a learner, a researcher, a hand-raiser, a judged buyer, a competitor, a stitched visitor, nobody."""
    ids = []

    def person(email: str, readings: Journey | None, **fields: Any) -> int:
        contact = add_contact(session, **{**HEAD_OF_OPS, **fields, "email": email})
        if readings is not None:
            add_events(session, readings.readings, contact_id=contact.id)
        ids.append(contact.id)
        return contact.id

    def buyer(j: Journey, days: float = 0.0) -> Journey:
        j.read(LEARN[0], days_ago=days + 10)
        j.read(COMPARE, days_ago=days + 3)
        j.read(DECIDE[0], days_ago=days + 2)
        j.read(DECIDE[1], days_ago=days + 1, seconds=200)
        j.visit("precios", days_ago=days + 1)
        j.visit("precios", days_ago=days + 0.5)
        return j

    person("buyer@almacenes-ruiz.es", buyer(Journey(library)))
    person("quiet@almacenes-ruiz.es", buyer(Journey(library), days=20))
    learner = Journey(library)
    for k, slug in enumerate(LEARN):
        learner.read(slug, days_ago=6 - k, seconds=200)
    person("learner@almacenes-ruiz.es", learner)
    researcher = Journey(library)
    for k, doc in enumerate(sorted(library.articles.values(), key=lambda a: a.slug)[:20]):
        researcher.read(doc.slug, days_ago=1 - k / 2000, seconds=40)
    person("analyst@prensa-logistica.es", researcher)
    asked = person("asks@almacenes-ruiz.es", None)
    session.add(Event(type="hand_raise", occurred_at=NOW - timedelta(days=2), contact_id=asked,
                      data={"form": "demo", "kind": "demo", "message": "¿Nos llamáis?"}))
    judged = person("judged@almacenes-ruiz.es", buyer(Journey(library), days=5))
    session.add(Event(type="outcome", occurred_at=NOW - timedelta(days=1), contact_id=judged,
                      data={"outcome": "sent_back", "reason": "not ready"}))
    person("rival@sgalogic.es", buyer(Journey(library)))
    person(STUDENT["email"], buyer(Journey(library)), role=STUDENT["role"], company_size="1-9")
    stitched = person("two-devices@almacenes-ruiz.es", None)
    add_visitor(session, "v" * 32, stitched)
    add_events(session, buyer(Journey(library), days=1).readings, visitor_id="v" * 32)
    person("nobody@almacenes-ruiz.es", None)
    later = Journey(library, LATER)  # the learner starts choosing after NOW: only LATER sees it
    later.read(DECIDE[0], days_ago=1)
    later.read(DECIDE[1], days_ago=0.5)
    later.visit("precios", days_ago=0.2)
    add_events(session, later.readings, contact_id=ids[2])
    session.commit()
    return ids


def stored(session: Session) -> tuple[dict[int, tuple], list[tuple]]:
    session.expire_all()
    states = {s.contact_id: (s.score, s.mode, s.grade, s.fit_points, s.interest, s.evidence, s.evidence_until,
                             s.computed_at, s.mode_since, s.grade_since, s.rules_version)
              for s in session.scalars(select(IntentState).where(IntentState.contact_id.is_not(None)))}
    changes = sorted((c.contact_id, c.occurred_at, c.kind, c.from_value, c.to_value, c.cause, c.score, c.evidence)
                     for c in session.scalars(select(IntentChange)))
    return states, changes


def one_at_a_time(session: Session, ids: list[int], rules: Rules, at) -> None:  # type: ignore[no-untyped-def]
    for cid in ids:
        update_contact(session, cid, at, rules)
    session.commit()


def forget(session: Session) -> None:
    session.execute(delete(IntentChange))
    session.execute(delete(Event).where(Event.type.in_(("mode_change", "grade_change"))))
    session.execute(delete(IntentState))
    session.commit()


def test_recompute_in_ranges_and_processes_stores_what_one_at_a_time_stores(session, demo_library, demo_rules) -> None:
    ids = varied_history(session, demo_library)
    looser = replace(demo_rules, threshold=demo_rules.threshold - 6, version="looser")
    expected = []
    for bulk in (False, True):
        forget(session)
        one_at_a_time(session, ids, demo_rules, NOW)  # the same stored states to start from
        if bulk:
            for _ in recompute(session, looser, LATER, batch_size=3, workers=2):
                session.commit()
            got = stored(session)
            assert got == expected
        else:
            one_at_a_time(session, ids, looser, LATER)
            expected = stored(session)
    states, changes = expected
    assert len(states) == len(ids) and {s[1] for s in states.values()} == {"information", "purchase"}
    assert {c[5] for c in changes} >= {"activity", "rules", "decay"}  # every kind of move was compared
    # A grade change keeps its explanation (the fit), not the readings; an entry keeps the readings that
    # decided it (the brief's "why now" reads them).
    grades = [c[7] for c in changes if c[2] == "grade"]
    entries = [c[7] for c in changes if c[2] == "mode" and c[4] == "purchase"]
    assert grades and all(e["items"] == [] and "fit" in e and "mode" in e for e in grades)
    assert entries and all(e["items"] for e in entries)


def test_replay_and_backtest_in_processes_say_what_one_process_says(session, demo_library, demo_rules) -> None:
    varied_history(session, demo_library)
    looser = replace(demo_rules, threshold=demo_rules.threshold - 6, version="looser")
    stricter = replace(demo_rules, threshold=demo_rules.threshold * 5, grade_thresholds=(("A", 100), ("B", 40), ("C", 20)),
                       version="stricter")
    one = replay(session, demo_rules, stricter, NOW, sample=2)
    many = replay(session, demo_rules, stricter, NOW, sample=2, batch_size=3, workers=2)
    assert (many.contacts, many.modes, many.grades, many.handoff, many.moves) == \
           (one.contacts, one.modes, one.grades, one.handoff, one.moves)
    assert {m: [(s.contact_id, s.now, s.candidate) for s in v] for m, v in many.samples.items()} == \
           {m: [(s.contact_id, s.now, s.candidate) for s in v] for m, v in one.samples.items()}
    assert one.moves  # the comparison compared something
    assert backtest(session, [demo_rules, looser], LATER, batch_size=3, workers=2) == \
           backtest(session, [demo_rules, looser], LATER)


def test_rules_that_count_alike_share_one_count_and_decide_as_if_walked_alone(session, demo_library,
                                                                               demo_rules) -> None:
    """walk_many (a replay's two walks, counted once) is the walks one by one, whatever differs in deciding."""
    ids = varied_history(session, demo_library)
    patterns = replace(demo_rules.patterns, focus_min_share=0.9, scan_min_reads=3)
    candidates = [replace(demo_rules, threshold=demo_rules.threshold - 6),
                  replace(demo_rules, threshold=demo_rules.threshold * 3),
                  replace(demo_rules, exit=replace(demo_rules.exit, silence_days=2), evidence_days=3),
                  replace(demo_rules, patterns=patterns, evidence_min_readings=2),
                  # counts differently: walked on its own
                  replace(demo_rules, stage_weights={k: v * 2 for k, v in demo_rules.stage_weights.items()})]

    def seen(w: Any) -> tuple:
        return w.mode, w.entered_at, w.until, w.why, w.evidence_count, w.episodes, w.items

    differ = 0
    for contact_id in ids:
        readings = contact_readings(session, contact_id)
        for at in (NOW, LATER):
            for candidate in candidates:
                together = walk_many(readings, [demo_rules, candidate], at)
                alone = [walk(readings, demo_rules, at), walk(readings, candidate, at)]
                assert [seen(w) for w in together] == [seen(w) for w in alone], (contact_id, at, candidate)
                differ += alone[0].episodes != alone[1].episodes
    assert differ  # the candidates decide differently for some contacts: sharing had something to get wrong
