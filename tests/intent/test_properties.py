"""Properties of the scoring that must hold for any trail: monotone in readings, monotone decay, grade from fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cabos.content.loader import load_library
from cabos.intent.rules import rules_of
from cabos.intent.rulesfile import RulesExtension
from cabos.intent.scoring import Reading, assess
from tests.intent.conftest import DEMO, NOW

LIBRARY = load_library(DEMO, [RulesExtension()])
RULES = rules_of(LIBRARY)
CONTENT = [(kind, d.slug, d.stage, d.problems) for kind, docs in
           (("article", LIBRARY.articles), ("guide", LIBRARY.guides), ("page", LIBRARY.pages)) for d in docs.values()]


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    kind, slug, stage, problems = draw(st.sampled_from(CONTENT))
    return Reading(
        occurred_at=NOW - timedelta(seconds=draw(st.integers(0, 120 * 86400))),
        content_kind=kind, content_slug=slug, stage=stage, problems=tuple(problems),
        engaged_ms=draw(st.one_of(st.just(0), st.integers(1, 10 * 3600 * 1000))),
        scroll_pct=draw(st.integers(0, 100)), read_to_end=draw(st.booleans()),
        type=draw(st.sampled_from(["reading", "reading", "download", "form_submit", "email_click"])),
        id=draw(st.integers(1, 10**6)),
    )


TEXT = st.one_of(st.sampled_from(["Head of Operations", "Jefe de almacén", "Estudiante", "CEO", "120", "50-249",
                                  "1-9", "Más de 1.000", "España", "México", "Distribución", "E-commerce", ""]),
                 st.text(max_size=30))
FIELDS = st.fixed_dictionaries({
    "role": TEXT, "company_size": TEXT, "country": TEXT, "sector": TEXT,
    "email_domain": st.sampled_from(["gmail.com", "estiba.es", ""]),
})

trails = st.lists(readings(), max_size=40)
props = settings(max_examples=150, deadline=None)


@props
@given(trail=trails, extra=readings(), position=st.integers(0, 40))
def test_score_never_decreases_when_a_reading_is_added(trail: list[Reading], extra: Reading, position: int) -> None:
    before = assess(trail, None, RULES, NOW)
    after = assess([*trail[:position], extra, *trail[position:]], None, RULES, NOW)
    assert after.score >= before.score
    for problem, value in before.interest:
        assert after.problems[problem] >= value


@props
@given(trail=trails, gap=st.floats(0, 365), more=st.floats(0, 365))
def test_decay_is_monotone(trail: list[Reading], gap: float, more: float) -> None:
    t1 = NOW + timedelta(days=gap)
    t2 = t1 + timedelta(days=more)
    a, b = assess(trail, None, RULES, t1), assess(trail, None, RULES, t2)
    assert b.score <= a.score
    assert all(b.problems.get(p, 0.0) <= v for p, v in a.interest)
    assert not (a.mode == "information" and b.mode == "purchase")


@props
@given(trail=trails, later=st.floats(0, 200))
def test_decay_on_read_equals_rescoring_later(trail: list[Reading], later: float) -> None:
    then = NOW + timedelta(days=later)
    stored = assess(trail, None, RULES, NOW)
    assert stored.at(then, RULES).score == pytest.approx(assess(trail, None, RULES, then).score, rel=1e-9, abs=1e-12)
    assert stored.at(then, RULES).mode == assess(trail, None, RULES, then).mode


@props
@given(fields=FIELDS, trail1=trails, trail2=trails, days=st.floats(0, 400))
def test_grade_depends_only_on_fields(fields: dict[str, str], trail1: list[Reading], trail2: list[Reading],
                                      days: float) -> None:
    a = assess(trail1, fields, RULES, NOW)
    b = assess(trail2, dict(fields), RULES, NOW + timedelta(days=days))
    assert (a.grade, a.fit_points, a.fit) == (b.grade, b.fit_points, b.fit)
    assert a.grade in ("A", "B", "C", "D")
