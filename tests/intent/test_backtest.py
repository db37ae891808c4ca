"""`cabos intent backtest`: rules judged against the outcomes sales recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from cabos.intent.backtest import backtest, render
from cabos.tracking.models import Event
from tests.intent.conftest import COMPARE, DECIDE, DEMO, HEAD_OF_OPS, LEARN, NOW, Journey, add_contact, add_events

# Looser rules: any stage is evidence, no pace or focus, a low threshold.
LOOSE = (DEMO / "intent.yml").read_text().replace("threshold: 18 ", "threshold: 4 ").replace(
    "stages: [decide]", "stages: [learn, compare, decide]").replace("min_share: 0.6", "min_share: 0.0").replace(
    "scan_share: 0.5", "scan_share: 1.0").replace("min_engagement: 0.25", "min_engagement: 0.05")


def judged(session: Session, contact_id: int, handed_at, outcome: str, reason: str = "",  # type: ignore[no-untyped-def]
           revenue: int | None = None) -> None:
    session.add(Event(type="handoff", occurred_at=handed_at, contact_id=contact_id, data={"handoff": contact_id}))
    data = {"handoff": contact_id, "outcome": outcome, "reason": reason or None}
    if revenue:
        data["revenue_cents"] = revenue
    session.add(Event(type="outcome", occurred_at=handed_at + timedelta(days=1), contact_id=contact_id, data=data))
    session.flush()


def history(session: Session, library) -> None:  # type: ignore[no-untyped-def]
    """Three buyers sales qualified (two won), three learners handed off by hand and sent back."""
    for i in range(3):
        person = add_contact(session, **{**HEAD_OF_OPS, "email": f"buyer{i}@almacenes-ruiz.es"})
        j = Journey(library, NOW - timedelta(days=30))
        j.read(LEARN[0], days_ago=8)
        j.read(COMPARE, days_ago=6)
        j.read(DECIDE[0], days_ago=4)
        j.read(DECIDE[1], days_ago=3)
        j.visit("precios", days_ago=3)
        add_events(session, j.readings, contact_id=person.id)
        judged(session, person.id, NOW - timedelta(days=25), "won" if i < 2 else "accepted",
               revenue=1_200_000 if i < 2 else None)
    for i in range(3):
        person = add_contact(session, **{**HEAD_OF_OPS, "email": f"learner{i}@almacenes-ruiz.es"})
        j = Journey(library, NOW - timedelta(days=30))
        for k, slug in enumerate(LEARN):
            j.read(slug, days_ago=5 - k * 0.5, seconds=200)
        add_events(session, j.readings, contact_id=person.id)
        judged(session, person.id, NOW - timedelta(days=24), "sent_back", reason="Solo está aprendiendo")
    session.commit()


def test_the_backtest_says_which_rules_the_outcomes_favour(session, demo_library, demo_rules, tmp_path) -> None:
    from cabos.intent.rulesfile import load_rules_file
    history(session, demo_library)
    loose, issues = load_rules_file(_write(tmp_path, LOOSE), demo_library, content_root=DEMO)
    assert loose is not None, issues
    current, candidate = backtest(session, [demo_rules, loose], NOW)
    assert (current.judged, current.qualified, current.won) == (6, 3, 2)
    assert (current.handed, current.handed_qualified, current.precision) == (3, 3, 1.0)
    assert current.won_caught == 2 and current.won_earlier == 2 and current.median_lead_days > 0
    assert (candidate.handed, candidate.handed_qualified) == (6, 3) and candidate.precision == 0.5
    assert candidate.handed_back == {"sent_back: Solo está aprendiendo": 3}
    lines = render([current, candidate], NOW)
    assert lines[-1].startswith("intent.yml is better than")
    assert any(line.startswith("precision") and "100%" in line and "50%" in line for line in lines)


def test_no_recorded_outcomes_says_so_instead_of_zeros(session, demo_library, demo_rules) -> None:
    person = add_contact(session, **HEAD_OF_OPS)
    j = Journey(demo_library)
    j.read(DECIDE[0], days_ago=2)
    add_events(session, j.readings, contact_id=person.id)
    session.commit()
    lines = render(backtest(session, [demo_rules], NOW), NOW)
    assert lines[0].startswith("No recorded outcomes")
    assert "0%" not in "\n".join(lines)


def test_cli_backtest_prints_the_table_and_refuses_a_broken_candidate(app, runner, session, demo_library,
                                                                      tmp_path) -> None:
    history(session, demo_library)
    result = runner.invoke(args=["intent", "backtest", "--rules", str(_write(tmp_path, LOOSE))])
    assert result.exit_code == 0, result.output
    assert "Backtest against the outcomes sales recorded" in result.output
    assert "intent.yml is better than" in result.output
    broken = runner.invoke(args=["intent", "backtest", "--rules", str(_write(tmp_path, "purchase_mode: 3\n"))])
    assert broken.exit_code == 1 and "nothing backtested" in broken.output


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"candidate-{abs(hash(text))}.yml"
    path.write_text(text)
    return path


def test_the_staff_page_shows_the_same_figures_to_marketing_and_sales_only(staff_client, session,
                                                                           demo_library) -> None:
    history(session, demo_library)
    for role in ("marketer", "sales", "admin"):
        response = staff_client(role).get("/staff/intent/backtest")
        assert response.status_code == 200, role
        html = response.get_data(as_text=True)
        assert "100%" in html and "intent.yml" in html  # precision of the rules in force
    assert staff_client("marketer").get("/staff/intent/backtest").get_data(as_text=True).count("<tr>") >= 10


def test_the_staff_page_says_when_there_is_nothing_to_judge(staff_client) -> None:
    html = staff_client("marketer").get("/staff/intent/backtest").get_data(as_text=True)
    assert "No recorded outcomes" in html or "Sin resultados" in html
