"""Stored intent: updates after events, decay on read, mode history and trail, visitors, recompute."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete, func, select

from cabos.contacts.models import Contact
from cabos.intent.bulk import recompute
from cabos.intent.models import IntentChange, IntentState
from cabos.intent.recommend import next_readings
from cabos.intent.scoring import INFORMATION, PURCHASE, assess
from cabos.intent.store import (
    current_state,
    current_visitor_state,
    history,
    intent_changed,
    update_after_event,
    update_contact,
    update_visitor,
)
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


def buyer_journey(journey: Journey) -> None:
    journey.read(LEARN[0], days_ago=10)
    journey.read(COMPARE, days_ago=3)
    journey.read(DECIDE[0], days_ago=2)
    journey.visit("precios", days_ago=1)


def test_each_new_reading_updates_the_contact_and_the_switch_is_recorded_when_it_happens(
        session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    received = []
    with intent_changed.connected_to(lambda sender, update: received.append(update)):
        for reading in journey.readings:
            add_events(session, [reading], contact_id=contact.id)
            update_contact(session, contact.id, reading.occurred_at, demo_rules)
    session.commit()

    # The decide-stage reading completes the path learn → compare → decide (lower threshold): it switches.
    switch_time = journey.readings[2].occurred_at
    changes = [(c.kind, c.from_value, c.to_value, c.occurred_at, c.cause) for c in history(session, contact.id)]
    assert changes == [("grade", None, "A", journey.readings[0].occurred_at, "activity"),
                       ("mode", INFORMATION, PURCHASE, switch_time, "activity")]
    change = history(session, contact.id)[-1]
    assert {i["slug"] for i in change.evidence["items"]} == {LEARN[0], COMPARE, DECIDE[0]}

    trail = session.execute(select(Event.type, Event.occurred_at, Event.data).where(
        Event.contact_id == contact.id, Event.type.in_(["mode_change", "grade_change"])).order_by(Event.id)).all()
    assert [(t.type, t.occurred_at) for t in trail] == [("grade_change", journey.readings[0].occurred_at),
                                                         ("mode_change", switch_time)]
    assert trail[1].data["from"] == INFORMATION and trail[1].data["to"] == PURCHASE

    row = session.scalar(select(IntentState).where(IntentState.contact_id == contact.id))
    assert (row.mode, row.grade, row.mode_since, row.rules_version) == (PURCHASE, "A", switch_time, demo_rules.version)
    assert max(row.interest, key=row.interest.get) == "inventario-descuadrado"

    # The handoff hook: told exactly once that the contact became eligible.
    assert [u.became_eligible for u in received] == [False, True]
    assert received[-1].eligible and received[-1].mode == PURCHASE


def test_updating_twice_records_nothing_new(session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    first = update_contact(session, contact.id, NOW, demo_rules)
    second = update_contact(session, contact.id, NOW, demo_rules)
    assert first is not None and second is not None
    assert len(first.changes) == 2 and second.changes == () and not second.became_eligible
    assert session.scalar(select(func.count()).select_from(IntentChange)) == 2


def test_current_state_applies_decay_without_reading_events(session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    update_contact(session, contact.id, NOW, demo_rules)
    session.execute(delete(Event).where(Event.type == "reading"))  # decay must not need them
    session.commit()

    for days in (0, 3, 20, 60):
        later = NOW + timedelta(days=days)
        state = current_state(session, contact.id, later, demo_rules)
        expected = assess(journey.readings, HEAD_OF_OPS, demo_rules, later)
        assert abs(state.score - expected.score) < 1e-9
        assert state.interest.keys() == expected.problems.keys()
        assert state.mode == expected.mode
    quiet = current_state(session, contact.id, NOW + timedelta(days=4 * demo_rules.half_life_days), demo_rules)
    assert quiet.mode == INFORMATION and quiet.grade == "A"
    assert NOW < quiet.mode_since < NOW + timedelta(days=4 * demo_rules.half_life_days)
    assert session.scalar(select(IntentState.mode).where(IntentState.contact_id == contact.id)) == PURCHASE


def test_quiet_lapse_is_recorded_at_the_moment_it_happened_on_the_next_update(
        session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    update_contact(session, contact.id, NOW, demo_rules)
    lapse = current_state(session, contact.id, NOW + timedelta(days=90), demo_rules).mode_since

    back = Journey(demo_library, now=NOW + timedelta(days=90))
    back.read(LEARN[1])
    add_events(session, back.readings, contact_id=contact.id)
    update = update_contact(session, contact.id, back.now, demo_rules)
    assert [(c.kind, c.from_value, c.to_value, c.at, c.cause) for c in update.changes] == [
        ("mode", PURCHASE, INFORMATION, lapse, "decay")]
    assert [(c.to_value, c.cause) for c in history(session, contact.id)][-1] == (INFORMATION, "decay")
    assert session.scalar(select(IntentState.mode_since).where(IntentState.contact_id == contact.id)) == lapse


def test_a_poor_fit_in_purchase_mode_is_not_eligible_for_handoff(session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **STUDENT)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    update = update_contact(session, contact.id, NOW, demo_rules)
    assert update.mode == PURCHASE and update.grade == "D"
    assert not update.eligible and not update.became_eligible


def test_anonymous_visitor_gets_an_interest_profile_and_never_becomes_a_contact(
        session, demo_library, demo_rules) -> None:
    add_visitor(session, "a" * 32)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, visitor_id="a" * 32)
    assessment = update_visitor(session, "a" * 32, NOW, demo_rules)
    session.commit()
    assert assessment.grade is None and assessment.interest[0][0] == "inventario-descuadrado"
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(IntentChange)) == 0
    state = current_visitor_state(session, "a" * 32, NOW + timedelta(days=1), demo_rules)
    assert state.grade is None and state.score < assessment.score
    suggestions = next_readings(demo_library, state.assessment)
    read = {r.content_slug for r in journey.readings}
    assert suggestions and all("inventario-descuadrado" in d.problems and d.slug not in read for d in suggestions)
    assert suggestions[0].stage == "decide"  # furthest stage reached is decide: more of it


def test_update_after_event_scores_the_visitor_and_the_contact_behind_it(session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    add_visitor(session, "b" * 32, contact_id=contact.id)
    journey = Journey(demo_library)
    buyer_journey(journey)
    events = add_events(session, journey.readings, visitor_id="b" * 32)  # not stitched yet
    update = update_after_event(session, events[-1], NOW, demo_rules)
    assert update is not None and update.contact_id == contact.id and update.mode == PURCHASE
    assert current_visitor_state(session, "b" * 32, NOW, demo_rules).grade is None
    email = Event(type="email_sent", occurred_at=NOW, contact_id=contact.id)
    assert update_after_event(session, email, NOW, demo_rules) is None


def test_update_uses_the_apps_rules_by_default(app, session, demo_library) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    with app.app_context():
        assert update_contact(session, contact.id, NOW).mode == PURCHASE


def test_recompute_after_a_rules_change_records_the_moves_with_cause_rules(session, demo_library, demo_rules) -> None:
    buyer = add_contact(session, **HEAD_OF_OPS)
    learner = add_contact(session, email="luis@tienda.es", role="Jefe de almacén", company_size="50-249")
    new = add_contact(session, email="nuevo@tienda.es")
    a, b = Journey(demo_library), Journey(demo_library)
    buyer_journey(a)
    b.read(COMPARE, days_ago=2)
    b.read(DECIDE[1], days_ago=1, seconds=90)
    add_events(session, a.readings, contact_id=buyer.id)
    add_events(session, b.readings, contact_id=learner.id)
    for c in (buyer, learner):
        update_contact(session, c.id, NOW, demo_rules)
    assert current_state(session, learner.id, NOW, demo_rules).mode == INFORMATION

    looser = replace(demo_rules, threshold=5, version="looser")
    batches = list(recompute(session, looser, NOW, batch_size=2))
    assert [p.contacts for p in batches] == [2, 3]
    progress = batches[-1]
    assert progress.moves == {("mode", INFORMATION, PURCHASE): 1, ("grade", None, "D"): 1}
    last = history(session, learner.id)[-1]
    assert (last.kind, last.to_value, last.cause) == ("mode", PURCHASE, "rules")
    assert session.scalar(select(IntentState.rules_version).where(IntentState.contact_id == new.id)) == "looser"
    assert list(recompute(session, looser, NOW))[-1].changes == 0


def test_erasing_a_contact_erases_its_intent(session, demo_library, demo_rules) -> None:
    contact = add_contact(session, **HEAD_OF_OPS)
    journey = Journey(demo_library)
    buyer_journey(journey)
    add_events(session, journey.readings, contact_id=contact.id)
    update_contact(session, contact.id, NOW, demo_rules)
    session.commit()
    session.execute(delete(Contact).where(Contact.id == contact.id))
    session.commit()
    assert session.scalar(select(func.count()).select_from(IntentState)) == 0
    assert session.scalar(select(func.count()).select_from(IntentChange)) == 0
