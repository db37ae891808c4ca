"""Replay candidate rules on stored history (changes nothing), and the `cabos intent` commands."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.db import utcnow
from cabos.intent.models import IntentChange, IntentState
from cabos.intent.replay import replay
from cabos.intent.scoring import INFORMATION, PURCHASE
from cabos.intent.store import current_state, update_contact
from cabos.schema import metadata
from tests.intent.conftest import COMPARE, DECIDE, DEMO, HEAD_OF_OPS, LEARN, NOW, Journey, add_contact, add_events

WATCHED = ("contacts", "visitors", "events", "intent_states", "intent_changes")


def snapshot(session: Session) -> dict[str, list[tuple]]:
    return {name: [tuple(r) for r in session.execute(select(metadata.tables[name]).order_by(
        *metadata.tables[name].primary_key.columns)).all()] for name in WATCHED}


def three_contacts(session: Session, library, now) -> dict[str, int]:
    """A buyer (purchase mode), a near-buyer (score between 10 and 18, recent decide reading), a learner."""
    people = {
        "buyer": add_contact(session, **HEAD_OF_OPS),
        "near": add_contact(session, email="marta@distribuciones-sur.es", role="Directora de operaciones",
                            company_size="50-249", country="España"),
        "learner": add_contact(session, email="jorge@tienda.es", role="Jefe de almacén", company_size="10-49"),
    }
    buyer, near, learner = Journey(library, now), Journey(library, now), Journey(library, now)
    buyer.read(COMPARE, days_ago=3)
    buyer.read(DECIDE[0], days_ago=2)
    buyer.visit("precios", days_ago=1)
    near.read(DECIDE[1], days_ago=2, seconds=240)
    near.read(COMPARE, days_ago=4)
    for slug in LEARN:
        learner.read(slug, days_ago=1)
    add_events(session, buyer.readings, contact_id=people["buyer"].id)
    add_events(session, near.readings, contact_id=people["near"].id)
    add_events(session, learner.readings, contact_id=people["learner"].id)
    session.commit()
    return {k: v.id for k, v in people.items()}


def test_replay_reports_the_moves_a_lower_threshold_causes_and_changes_nothing(session, demo_library,
                                                                               demo_rules) -> None:
    ids = three_contacts(session, demo_library, NOW)
    for contact_id in ids.values():
        update_contact(session, contact_id, NOW, demo_rules)
    session.commit()
    before = snapshot(session)

    candidate = replace(demo_rules, threshold=10, source="candidate.yml")
    report = replay(session, demo_rules, candidate, NOW)
    session.rollback()

    assert report.contacts == 3
    assert report.modes == {INFORMATION: [2, 1], PURCHASE: [1, 2]}
    assert report.moves == {("mode", INFORMATION, PURCHASE): 1, ("handoff", "no", "yes"): 1}
    (sample,) = report.samples[("mode", INFORMATION, PURCHASE)]
    assert sample.contact_id == ids["near"] and sample.candidate.mode == PURCHASE and sample.now.mode == INFORMATION
    assert report.handoff == [1, 2]
    assert snapshot(session) == before
    assert current_state(session, ids["near"], NOW, demo_rules).mode == INFORMATION


def test_replay_with_the_same_rules_moves_nobody(session, demo_library, demo_rules) -> None:
    three_contacts(session, demo_library, NOW)
    report = replay(session, demo_rules, demo_rules, NOW)
    assert report.contacts == 3 and not report.moves


def candidate_file(tmp_path: Path, old: str, new: str) -> Path:
    text = (DEMO / "intent.yml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "candidate.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_cli_replay_prints_moves_with_who_and_why_and_changes_nothing(runner, session, demo_library,
                                                                      tmp_path) -> None:
    three_contacts(session, demo_library, utcnow())
    assert runner.invoke(args=["intent", "recompute"]).exit_code == 0
    before = snapshot(session)
    path = candidate_file(tmp_path, "threshold: 18 ", "threshold: 10 ")
    result = runner.invoke(args=["intent", "replay", "--rules", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Replay of {path} against 3 contacts" in result.output
    assert "mode information → purchase: 1 contacts" in result.output
    assert "marta@distribuciones-sur.es" in result.output
    # The why, in the site's language (the demo is Spanish), with the threshold that applied: 10, lowered
    # by her compare → decide path.
    assert "modo compra" in result.output.lower() and "8 necesarios" in result.output
    session.expire_all()
    assert snapshot(session) == before


def test_cli_replay_refuses_a_broken_candidate(runner, tmp_path) -> None:
    path = candidate_file(tmp_path, "threshold: 18 ", "threshold: 900 ")
    result = runner.invoke(args=["intent", "replay", "--rules", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.output and "error [purchase_mode.threshold]" in result.output
    assert "cannot be reached" in result.output


def test_cli_recompute_scores_everyone_and_records_moves_once(runner, session, demo_library) -> None:
    ids = three_contacts(session, demo_library, utcnow())
    first = runner.invoke(args=["intent", "recompute", "--visitors"])
    assert first.exit_code == 0, first.output
    assert "recomputed 3 contacts with intent.yml" in first.output
    assert "mode information → purchase: 1" in first.output and "grade — → A: 2" in first.output
    states = dict(session.execute(select(IntentState.contact_id, IntentState.mode)).all())
    assert states == {ids["buyer"]: PURCHASE, ids["near"]: INFORMATION, ids["learner"]: INFORMATION}
    second = runner.invoke(args=["intent", "recompute"])
    assert second.exit_code == 0 and "→" not in second.output
    assert len(session.scalars(select(IntentChange)).all()) == 4  # 3 grades + 1 mode


def test_cli_explain_says_why_in_plain_words(runner, session, demo_library) -> None:
    three_contacts(session, demo_library, utcnow())
    runner.invoke(args=["intent", "recompute"])
    result = runner.invoke(args=["intent", "explain", HEAD_OF_OPS["email"].upper()])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"{HEAD_OF_OPS['email']}: purchase mode, grade A")
    assert "«Elegir una solución»" in out and "visitó la página de precios" in out
    assert "Head of Operations" in out and "«Caso Electrolevante" in out
    assert "modo compra" in out  # history, in Spanish
    assert runner.invoke(args=["intent", "explain", "nadie@example.com"]).exit_code == 1
