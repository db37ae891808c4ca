"""Purchase mode you can bet a call on: research is not buying, buying lasts, outcomes and requests move it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from cabos.intent import explain
from cabos.intent.scoring import INFORMATION, PURCHASE, Reading, assess, should_hand_off
from tests.intent.conftest import COMPARE, DECIDE, HEAD_OF_OPS, LEARN, NOW, Journey

COMPETITOR = {**HEAD_OF_OPS, "email": "lucas@ventas.sgalogic.es", "email_domain": "ventas.sgalogic.es"}
# A moderate fit: an analyst at a distributor (grade B on the demo rules).
ANALYST = {"email": "irene@distribuciones-sur.es", "role": "Analista", "company_size": "120",
           "country": "España", "sector": "Distribución", "email_domain": "distribuciones-sur.es"}


def evaluator(journey: Journey, start: float = 10.0) -> None:
    """Reads around one problem over days, case studies in full, then pricing."""
    journey.read(LEARN[0], days_ago=start)
    journey.read(LEARN[2], days_ago=start - 1)
    journey.read(COMPARE, days_ago=start - 3)
    journey.read(DECIDE[0], days_ago=start - 5)
    journey.read(DECIDE[1], days_ago=start - 6)
    journey.visit("precios", days_ago=start - 6)


def researcher(journey: Journey, library) -> None:  # type: ignore[no-untyped-def]
    """Twenty-odd pieces on every problem in one sitting, a minute each, decide-stage ones included."""
    at = 0.0
    for slug in sorted(library.articles)[:22]:
        journey.read(slug, days_ago=1 - at / 1440, seconds=60)
        at += 2.2  # minutes


def test_a_researcher_reading_everything_fast_is_not_choosing(journey, demo_library, demo_rules) -> None:
    researcher(journey, demo_library)
    a = assess(journey.readings, ANALYST, demo_rules, NOW)
    assert a.grade == "B"
    assert a.score >= demo_rules.threshold  # the sums alone would call them a buyer
    assert a.mode == INFORMATION and not should_hand_off(a, demo_rules)
    assert a.why["pattern"] in ("focus", "pace")
    reason = explain.mode_reason(a, demo_rules, demo_library)
    assert reason.endswith("not choosing") and "22 pieces" in reason


def test_the_same_reading_at_a_buyers_pace_on_one_problem_is_choosing(journey, demo_library, demo_rules) -> None:
    evaluator(journey)
    a = assess(journey.readings, ANALYST, demo_rules, NOW)
    assert a.mode == PURCHASE and should_hand_off(a, demo_rules)
    assert a.why["entry"] == "reading" and a.why["problem"] == "inventario-descuadrado"


def test_skimmed_decide_pieces_are_not_purchase_evidence(journey, demo_rules) -> None:
    journey.read(COMPARE, days_ago=3)
    journey.read(DECIDE[0], days_ago=1, seconds=40)  # 689 words in 40 s: nobody chooses at that pace
    journey.read(DECIDE[1], days_ago=1, seconds=45)
    journey.visit("precios", days_ago=1)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.evidence_count == 0 and a.mode == INFORMATION


def test_purchase_mode_lasts_through_a_quiet_week_and_ends_after_the_silence(journey, demo_rules) -> None:
    evaluator(journey, start=10)
    entered = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert entered.mode == PURCHASE
    last_signal = NOW - timedelta(days=4)
    week = assess(journey.readings, HEAD_OF_OPS, demo_rules, last_signal + timedelta(days=7))
    assert week.mode == PURCHASE
    weeks = assess(journey.readings, HEAD_OF_OPS, demo_rules, last_signal + timedelta(days=21))
    assert weeks.mode == PURCHASE and weeks.score < demo_rules.threshold  # decayed below entry, still choosing
    silence = timedelta(days=demo_rules.exit.silence_days)
    assert assess(journey.readings, HEAD_OF_OPS, demo_rules, last_signal + silence - timedelta(hours=1)).mode \
        == PURCHASE
    gone = assess(journey.readings, HEAD_OF_OPS, demo_rules, last_signal + silence + timedelta(hours=1))
    assert gone.mode == INFORMATION and gone.why["exit"] == "silence"
    # The same on read: the stored assessment brought forward, no events needed.
    assert entered.at(last_signal + timedelta(days=7), demo_rules).mode == PURCHASE
    assert entered.at(last_signal + silence + timedelta(hours=1), demo_rules).mode == INFORMATION


def test_going_back_to_pricing_keeps_the_evidence_fresh_with_diminishing_returns(journey, demo_rules) -> None:
    evaluator(journey, start=10)
    first = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    pricing = demo_rules.signals[("page", "precios")].points
    values = []
    for days_ago in (3, 2, 1):
        journey.visit("precios", days_ago=days_ago)
        a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
        values.append({i.slug: i.value for i in a.items}["precios"])
    gains = [b - a for a, b in zip([0.0, *values], values, strict=False)]
    assert gains[1] < gains[0] and gains[2] < gains[1]  # each repeat adds less …
    assert values[-1] < 2 * pricing  # … and together never more than twice the signal
    assert a.evidence_until > first.evidence_until  # and the silence counts from the latest visit


def test_an_outcome_ends_purchase_mode_and_only_new_evidence_brings_it_back(journey, demo_rules) -> None:
    evaluator(journey, start=10)
    outcome = Reading(NOW - timedelta(days=2), None, None, type="outcome", id=900,
                      detail={"outcome": "sent_back", "reason": "Sin presupuesto"})
    journey.readings.append(outcome)
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.mode == INFORMATION and a.why["exit"] == "outcome" and a.why["outcome"] == "sent_back"
    journey.read(LEARN[1], days_ago=1)  # learning again is not evidence
    assert assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW).mode == INFORMATION
    journey.read("caso-nacar-cosmetica-errores-de-envio", days_ago=0.5)
    journey.visit("precios", days_ago=0.4)
    assert assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW).mode == PURCHASE


def test_an_accepted_handoff_keeps_purchase_mode(journey, demo_rules) -> None:
    evaluator(journey, start=10)
    journey.readings.append(Reading(NOW - timedelta(days=2), None, None, type="outcome", id=901,
                                    detail={"outcome": "accepted"}))
    assert assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW).mode == PURCHASE


def test_a_demo_request_is_purchase_mode_at_once_with_the_request_as_evidence(journey, demo_library,
                                                                              demo_rules) -> None:
    journey.read(LEARN[0], days_ago=1)
    journey.readings.append(Reading(NOW - timedelta(hours=2), None, None, type="hand_raise", id=902, detail={
        "form": "demo", "kind": "demo", "message": "Queremos ver el recuento cíclico con nuestro ERP"}))
    a = assess(journey.readings, HEAD_OF_OPS, demo_rules, NOW)
    assert a.mode == PURCHASE and a.entered_at == NOW - timedelta(hours=2)
    assert a.why["entry"] == "hand_raise" and a.why["kind"] == "demo"
    assert explain.mode_reason(a, demo_rules, demo_library) == \
        "Purchase mode: asked for a demo: «Queremos ver el recuento cíclico con nuestro ERP»"
    assert should_hand_off(a, demo_rules)


def test_a_competitor_reading_like_a_buyer_is_excluded_and_never_handed_off(journey, demo_library,
                                                                            demo_rules) -> None:
    evaluator(journey)
    a = assess(journey.readings, COMPETITOR, demo_rules, NOW)
    assert a.mode == INFORMATION and a.grade == "D" and a.excluded
    assert explain.mode_reason(a, demo_rules, demo_library) == \
        "Information mode: excluded (dominio de un competidor), whatever they read"
    assert not should_hand_off(a, demo_rules)
    assert not should_hand_off(a, replace(demo_rules, handoff_min_grade="D"))  # whatever the grade rule
    assert "excluded: dominio de un competidor «ventas.sgalogic.es»" in explain.fit_reason(a, demo_rules)
