"""Synthetic journeys through the demo content, scored by the pure functions with the demo rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cabos.intent import explain
from cabos.intent.rules import FitRule
from cabos.intent.scoring import (
    INFORMATION,
    PURCHASE,
    assess,
    engagement_share,
    first_number,
    fit,
    lapse_time,
    matches,
    should_hand_off,
)
from tests.intent.conftest import COMPARE, DECIDE, HEAD_OF_OPS, LEARN, NOW, STUDENT, Journey


def learn_everything(journey: Journey, rounds: int) -> None:
    """Every learn-stage article and guide, read in full, ``rounds`` times over the last days."""
    for r in range(rounds):
        for slug, doc in journey.library.articles.items():
            if doc.stage == "learn":
                journey.read(slug, days_ago=r * 0.5, seconds=600)
        for slug, doc in journey.library.guides.items():
            if doc.stage == "learn":
                journey.read(slug, days_ago=r * 0.5, kind="guide", type="download")


@pytest.mark.parametrize("rounds", [1, 3, 10])
def test_learn_stage_reader_stays_in_information_mode_however_much_they_read(journey, demo_rules, demo_library,
                                                                            rounds) -> None:
    learn_everything(journey, rounds)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.mode == INFORMATION
    # Even when the score passes the threshold, learning is not choosing.
    eager = replace(demo_rules, threshold=2)
    b = assess(journey.readings, HEAD_OF_OPS, eager, NOW)
    assert b.score >= eager.threshold and b.mode == INFORMATION and b.evidence_count == 0
    assert "no recent reading at the «Elegir una solución» stage" in explain.mode_reason(b, eager, demo_library)


def test_compare_and_decide_reading_plus_pricing_switches_to_purchase_mode(journey, demo_rules) -> None:
    no_path = replace(demo_rules, patterns=replace(demo_rules.patterns, path_discount=0.0))
    journey.read(LEARN[0], days_ago=9)
    journey.read(COMPARE, days_ago=5, seconds=200)
    journey.read(DECIDE[0], days_ago=2)
    before = assess(journey.readings, HEAD_OF_OPS, no_path, NOW)
    assert before.mode == INFORMATION and before.score < demo_rules.threshold
    # learn → compare → decide on one problem over three days is the buying path: a lower threshold.
    with_path = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert with_path.mode == PURCHASE and with_path.why["path"]["stages"] == ["learn", "compare", "decide"]
    journey.visit("precios", days_ago=1)
    after = assess(journey.readings, HEAD_OF_OPS, no_path, NOW)
    assert after.mode == PURCHASE
    assert after.score >= demo_rules.threshold and after.evidence_count == 1
    assert after.interest[0][0] == "inventario-descuadrado"


def test_purchase_mode_contact_silent_for_several_half_lives_returns_to_information(journey, demo_rules) -> None:
    journey.read(COMPARE, days_ago=3)
    journey.read(DECIDE[0], days_ago=2)
    journey.read(DECIDE[1], days_ago=1)
    journey.visit("precios", days_ago=1)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.mode == PURCHASE
    later = NOW + timedelta(days=4 * demo_rules.half_life_days)
    quiet = assess(journey.readings, HEAD_OF_OPS, demo_rules, later)
    assert quiet.mode == INFORMATION and quiet.score < a.score / 8
    # Decay on read says the same, from the stored assessment alone, and knows when it happened.
    assert a.at(later, demo_rules).mode == INFORMATION
    assert NOW < lapse_time(a, demo_rules) <= later
    assert quiet.grade == a.grade == "A"


def test_explanation_lists_exactly_the_contributing_readings_and_rules(journey, demo_rules, demo_library) -> None:
    journey.read(LEARN[0], days_ago=6, seconds=0)  # opened, never read: not interest
    first = journey.read(DECIDE[0], days_ago=5, seconds=40)
    best = journey.read(DECIDE[0], days_ago=4, seconds=240)  # the same article again, read in full
    other = journey.read(DECIDE[1], days_ago=3, seconds=300)
    compare = journey.read(COMPARE, days_ago=2, seconds=120)
    pricing = journey.visit("precios", days_ago=1)
    pricing_again = journey.visit("precios", days_ago=0.5, seconds=5)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)

    counted = {(i.kind, i.slug): i for i in a.items}
    assert set(counted) == {("article", DECIDE[0]), ("article", DECIDE[1]), ("article", COMPARE), ("page", "precios")}
    assert counted[("article", DECIDE[0])].event_id == best.id and counted[("article", DECIDE[0])].visits == 2
    assert counted[("article", DECIDE[0])].engaged_ms == first.engaged_ms + best.engaged_ms
    assert counted[("article", DECIDE[1])].event_id == other.id
    assert counted[("article", COMPARE)].event_id == compare.id
    assert counted[("page", "precios")].event_id == pricing_again.id and counted[("page", "precios")].visits == 2
    assert pricing.id != pricing_again.id
    assert abs(sum(i.value for i in a.items) - a.score) < 1e-9
    assert counted[("article", DECIDE[0])].points == 3  # the case study is a signal too

    assert [(m.field, m.points) for m in a.fit] == [("role", 35), ("company_size", 30), ("sector", 20),
                                                     ("country", 10)]
    assert a.grade == "A" and a.fit_points == 95

    lines = explain.summary(a, demo_rules, demo_library)
    assert lines[0].startswith("Purchase mode: score")
    assert ("read 2 pieces at the «Elegir una solución» stage on «El inventario no cuadra» in the last 4 days, "
            "10 minutes engaged") in lines
    assert "visitó la página de precios (2 times)" in lines
    assert "leyó el caso de Electrolevante (2 times)" in lines
    assert lines[-1] == ("Fit A (95 points): cargo que decide sobre el almacén «Head of Operations» (+35); "
                         "entre 50 y 999 empleados «120» (+30); distribución o comercio electrónico «Distribución» "
                         "(+20); mercado que atendemos «España» (+10)")
    details = explain.details(a, demo_library)
    assert len(details) == 4 and details[0].startswith("«Caso Electrolevante")


def test_a_poor_fit_in_purchase_mode_is_not_handed_off(journey, demo_rules) -> None:
    journey.read(COMPARE, days_ago=3)
    journey.read(DECIDE[0], days_ago=2)
    journey.visit("precios", days_ago=1)
    student = assess(journey.readings, STUDENT, demo_rules, NOW)
    manager = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert student.mode == manager.mode == PURCHASE
    assert student.grade == "D" and not should_hand_off(student, demo_rules)
    assert manager.grade == "A" and should_hand_off(manager, demo_rules)
    visitor = assess(journey.readings, None, demo_rules, NOW)
    assert visitor.grade is None and not should_hand_off(visitor, demo_rules)


def test_demo_signal_marked_evidence_counts_as_recent_purchase_evidence(journey, demo_rules) -> None:
    journey.read(COMPARE, days_ago=2)
    journey.read(LEARN[0], days_ago=2)
    journey.visit("demo", days_ago=1, seconds=60)
    journey.visit("precios", days_ago=1)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.evidence_count == 1 and a.mode == PURCHASE


def test_readings_after_now_do_not_count(journey, demo_rules) -> None:
    journey.read(DECIDE[0], days_ago=-1)
    assert assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW).items == ()


@pytest.mark.parametrize("seconds, low, high", [
    (0, 0, 0), (5, 0, 0.05), (15, 0.05, 0.05), (60, 0.35, 0.35), (240, 1, 1), (8 * 3600, 1, 1),
])
def test_engagement_curve_skim_counts_little_full_read_fully_open_tab_no_more(demo_rules, seconds, low, high) -> None:
    assert low <= engagement_share(seconds * 1000, demo_rules) <= high


def test_guide_download_counts_as_full_read(journey, demo_rules) -> None:
    journey.read("guia-inventario-que-cuadra", kind="guide", type="download", seconds=0)
    (item,) = assess(journey.readings, None, demo_rules, NOW).items
    assert item.share == 1.0 and item.value == pytest.approx(demo_rules.weight("learn"))


@pytest.mark.parametrize("condition, value, raw, expected", [
    ("contains", ("coo",), "Coordinador de tienda", False),
    ("contains", ("coo",), "COO", True),
    ("contains", ("almacén",), "jefe de almacen", True),
    ("in", ("E-commerce",), " e-commerce ", True),
    ("between", (50.0, 999.0), "Más de 1.000", False),
    ("between", (50.0, 999.0), "250-999", True),
    ("between", (50.0, 999.0), "", False),
    ("present", True, "ACME", True),
    ("present", False, "", True),
    ("equals", ("España",), "espana", True),
])
def test_fit_conditions(condition, value, raw, expected) -> None:
    assert matches(FitRule("x", condition, value, 1, ""), raw) is expected


def test_first_number_reads_sizes() -> None:
    assert [first_number(v) for v in ("120", "50-249", "1000+", "Más de 1.000", "n/a")] == [120, 50, 1000, 1000, None]


def test_fit_depends_on_fields_only(demo_rules) -> None:
    points, found = fit(HEAD_OF_OPS, demo_rules)
    assert points == 95 and len(found) == 4
    assert fit(STUDENT, demo_rules)[0] == -40 + 10 - 10  # student, España, personal email


def test_each_sign_of_choosing_lowers_the_threshold_once_more(journey, demo_library, demo_rules) -> None:
    # learn → compare → decide on one problem over nine days: two earlier stages, the threshold × 0.8².
    journey.read(LEARN[0], days_ago=9)
    journey.read(COMPARE, days_ago=5)
    journey.read(DECIDE[1], days_ago=0.01)
    walked = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert walked.why["path"]["stages"] == ["learn", "compare", "decide"]
    assert walked.mode == PURCHASE and walked.score < demo_rules.threshold * 0.8
    assert walked.why["threshold"] == round(demo_rules.threshold * 0.8 ** 2, 3)
    assert "(11.5 needed)" in explain.mode_reason(walked, demo_rules, demo_library)
    # Learning twice is one earlier stage, however many pieces: × 0.8, not enough for the same reading.
    learnt = Journey(demo_library)
    learnt.read(LEARN[0], days_ago=9)
    learnt.read(LEARN[1], days_ago=1)
    learnt.read(DECIDE[1], days_ago=0.01)
    once = assess(learnt.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert once.mode == INFORMATION and demo_rules.threshold * 0.8 ** 2 <= once.score < demo_rules.threshold * 0.8


def test_pricing_in_the_same_visit_as_a_decide_reading_is_a_sign_of_choosing(demo_library, demo_rules) -> None:
    same, next_day = Journey(demo_library), Journey(demo_library)
    same.read(DECIDE[1], days_ago=0.01)
    same.visit("precios", days_ago=0.005, seconds=60)  # seven minutes later
    a = assess(same.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.mode == PURCHASE and a.score < demo_rules.threshold
    assert a.why["corroborated"]["signal"] == "visitó la página de precios"
    assert "in the same visit: visitó la página de precios" in explain.mode_reason(a, demo_rules, demo_library)
    next_day.read(DECIDE[1], days_ago=1.01)
    next_day.visit("precios", days_ago=0.005, seconds=60)
    b = assess(next_day.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert b.mode == INFORMATION and "corroborated" not in b.why
    # Case studies are signals and evidence at once, but reading two in a sitting is what researchers do
    # too: only a page about buying from us (pricing, demo) is a sign.
    cases = Journey(demo_library)
    cases.read(DECIDE[0], days_ago=0.01, seconds=90)
    cases.read("caso-nacar-cosmetica-errores-de-envio", days_ago=0.005, seconds=90)
    c = assess(cases.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert c.mode == INFORMATION and "corroborated" not in c.why
    assert demo_rules.threshold * 0.8 <= c.score < demo_rules.threshold
