"""Every figure of March 2026 for the history in conftest.py, worked out by hand.

Funnel: visitors v1 v2 v3 v4 v6 = 5; engaged v1 v3 v6 = 3; identified c1 c2 c4 = 3;
purchase c1 c3 = 2; handed off c1 c2 c3 = 3; accepted c3 c1 = 2; won c3 c1 = 2; revenue 13,000 €.
Medians (contacts' stages only): identified→purchase c1 8 d, c3 14 d = 11 d; purchase→handoff c1 2 h, c3 24 h, c2 72 h = 24 h; handoff→accepted
c3 48 h, c1 24 h = 36 h; accepted→won c3 16 d, c1 12 d = 14 d; identified→won c3 33 d,
c1 21 d 2 h = 27 d 1 h.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cabos.dashboard import attribution, content, metrics, readers, rollup
from cabos.dashboard.period import Period
from cabos.dashboard.report import build
from tests.dashboard.conftest import NOW

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))
H = timedelta(hours=1)
D = timedelta(days=1)


def _funnel(app, session):  # type: ignore[no-untyped-def]
    return metrics.funnel(session, MARCH, rollup.load(session, MARCH, _library(app)).readers)


def test_funnel_counts_conversions_medians_and_revenue(app, session, history) -> None:
    f = _funnel(app, session)
    assert [(s.key, s.count) for s in f.stages] == [
        ("visitors", 5), ("engaged", 3), ("identified", 3), ("purchase", 2), ("handed_off", 3), ("accepted", 2),
        ("won", 2)]
    assert [s.conversion for s in f.stages] == [None, pytest.approx(3 / 5), pytest.approx(1.0), pytest.approx(2 / 3),
                                                pytest.approx(3 / 2), pytest.approx(2 / 3), pytest.approx(1.0)]
    medians = {s.key: s.median_time for s in f.stages}
    assert medians == {"visitors": None, "engaged": None, "identified": None, "purchase": 11 * D,
                       "handed_off": 24 * H, "accepted": 36 * H, "won": 14 * D}
    assert [s.timed for s in f.stages] == [0, 0, 0, 2, 3, 2, 2]
    assert f.revenue_cents == 1_300_000 and f.currency == "EUR" and f.other_currencies == {}
    assert f.cycle == 27 * D + H
    assert f.won_deals == 2


def test_a_win_in_another_currency_is_listed_apart(app, session, history) -> None:
    from cabos.sales.models import HandoffOutcome
    from tests.dashboard.conftest import at

    session.add(HandoffOutcome(handoff_id=history.handoffs["h3"], contact_id=history.contacts["c2"], kind="won",
                               occurred_at=at(28, 9), revenue_cents=50_000, currency="USD"))
    session.commit()
    f = _funnel(app, session)
    assert f.currency == "EUR" and f.revenue_cents == 1_300_000 and f.other_currencies == {"USD": 50_000}


def test_attribution_by_each_method(app, session, history) -> None:
    won = metrics.wins(session, MARCH)
    result = attribution.attribute(won, attribution.trails(session, won))
    items = {(c.kind, c.key): c.cents for c in result.items}
    assert {k: v["first"] for k, v in items.items() if v["first"]} == {("article", "a1"): 1_300_000}
    assert {k: v["last"] for k, v in items.items() if v["last"]} == {("sequence", "seq-x"): 1_000_000,
                                                                    ("article", "a2"): 300_000}
    assert {k: v["linear"] for k, v in items.items()} == {
        ("article", "a1"): pytest.approx(400_000), ("guide", "g1"): pytest.approx(250_000),
        ("sequence", "seq-x"): pytest.approx(250_000), ("article", "a3"): pytest.approx(250_000),
        ("article", "a2"): pytest.approx(150_000)}
    problems = {c.key: c.cents for c in result.problems}
    assert {k: v["first"] for k, v in problems.items() if v["first"]} == {"slow-orders": 1_300_000}
    # c3's last touch is an email click, which carries no problem: it is shared among the problems
    # c3 read about (a1: slow-orders; g1, a3: bad-stock), not left to "(no problem)".
    assert {k: v["last"] for k, v in problems.items() if v["last"]} == {
        "slow-orders": 150_000 + 500_000, "bad-stock": 150_000 + 500_000}
    assert {k: v["linear"] for k, v in problems.items()} == {
        "slow-orders": pytest.approx(475_000 + 125_000), "bad-stock": pytest.approx(575_000 + 125_000)}
    for method in attribution.METHODS:  # every method shares out exactly the revenue won
        assert sum(c.cents[method] for c in result.items) == pytest.approx(1_300_000)
        assert sum(c.cents[method] for c in result.problems) == pytest.approx(1_300_000)
    assert result.total_cents == 1_300_000 and result.unattributed_cents == 0
    assert {(c.kind, c.key): c.deals for c in result.items}[("article", "a1")] == 2


def test_a_deal_without_touches_is_unattributed() -> None:
    from datetime import UTC, datetime

    win = metrics.Win(1, 1, 7, datetime(2026, 3, 5, tzinfo=UTC), 5000, "EUR", datetime(2026, 3, 1, tzinfo=UTC), None)
    result = attribution.attribute([win], {})
    assert result.unattributed_cents == 5000 and result.items == () and result.total_cents == 5000


def test_histogram_median_is_exact_to_the_bucket() -> None:
    hist = {readers.bucket_of(5000): 1, readers.bucket_of(45000): 1}
    assert readers.median_of(hist) == pytest.approx((5.5 + 45) / 2)  # each rank at its bucket's middle
    assert readers.median_of({readers.bucket_of(0): 2, readers.bucket_of(10_000): 1}) == pytest.approx(0.75)
    assert readers.median_of({}) is None
    assert readers.median_of({len(readers.EDGES) - 1: 3}) == 3600  # the open last bucket: its lower edge
    assert [readers.bucket_of(ms) for ms in (0, 999, 1000, 29_999, 30_000, 10**8)] == [
        0, 0, 1, readers.EDGES.index(25), readers.EDGES.index(30), len(readers.EDGES) - 1]


def test_content_performance_per_content_problem_and_author(app, session, history) -> None:
    report = build(session, MARCH, _library(app), NOW)
    rows = {(r.kind, r.key): r for r in report.content.contents}
    figures = {k: (r.stats.readings, r.stats.median_seconds, r.stats.read_to_end_rate, r.downloads,
                   r.identified, r.before_purchase, r.revenue_cents) for k, r in rows.items()}
    assert figures == {
        ("article", "a1"): (2, pytest.approx(25.25), 0.0, 0, 1, 2, 1_300_000),
        ("article", "a2"): (3, pytest.approx(0.75), 0.0, 0, 0, 1, 300_000),
        ("article", "a3"): (2, pytest.approx(165.0), 0.5, 0, 1, 0, 1_000_000),
        ("guide", "g1"): (0, None, None, 1, 1, 1, 1_000_000),
    }
    problems = {r.key: (r.stats.readings, r.stats.median_seconds, r.downloads, r.identified,
                        r.before_purchase, r.revenue_cents, r.contents) for r in report.content.problems}
    # slow-orders: a1 {5, 45 s} + a2 {0, 0, 10 s}: the 3rd of 5 is 5 s, in [5, 6) → 5.5 s.
    # bad-stock: a2 {0, 0, 10 s} + a3 {120, 200 s}: the 3rd of 5 is 10 s, in [10, 12) → 11 s.
    assert problems == {
        "slow-orders": (5, pytest.approx(5.5), 0, 1, 2, 1_300_000, 2),
        "bad-stock": (5, pytest.approx(11.0), 1, 1, 2, 1_300_000, 3),
    }
    authors = {r.key: (r.stats.readings, r.identified, r.before_purchase, r.revenue_cents)
               for r in report.content.authors}
    assert authors == {"Ana": (5, 1, 2, 1_300_000), "Bea": (2, 1, 1, 1_000_000)}


def test_content_rows_sort_by_any_column(app, session, history) -> None:
    report = build(session, MARCH, _library(app), NOW)
    by_revenue = content.sort_rows(report.content.contents, "revenue", True)
    assert [r.key for r in by_revenue][:1] == ["a1"]
    by_title = content.sort_rows(report.content.contents, "title", False)
    assert [r.title for r in by_title] == ["Alpha article", "Beta article", "Gamma article", "Stock guide"]
    assert [r.key for r in content.sort_rows(report.content.contents, "median", True)] == ["a3", "a1", "a2", "g1"]


def test_people_per_salesperson_and_team(app, session, history) -> None:
    p = metrics.people(session, MARCH, NOW)
    rows = {r.name: r for r in p.sales}
    sara, tomas, ilse = rows["Sara"], rows["Tomás"], rows["Ilse"]
    assert (sara.received, sara.median_response, sara.within_sla, sara.sla_due) == (2, 25 * H, 1, 2)
    assert (sara.accepted, sara.sent_back, sara.won, sara.revenue_cents) == (2, 0, 2, 1_300_000)
    assert (tomas.received, tomas.median_response, tomas.within_sla, tomas.sla_due) == (1, 6 * H, 1, 1)
    assert (tomas.sent_back, dict(tomas.sent_back_reasons), tomas.won, tomas.revenue_cents) == (1, {"not ready": 1}, 0, 0)
    assert (ilse.received, ilse.median_response, ilse.won) == (0, None, 0)
    t = p.team
    assert (t.received, t.median_response, t.within_sla, t.sla_due, t.accepted, t.sent_back, t.won, t.revenue_cents) \
        == (3, 6 * H, 2, 3, 2, 1, 2, 1_300_000)
    assert [r.name for r in p.sales] == ["Sara", "Ilse", "Tomás"]  # by revenue, then won, then name
    assert [(c.kind, c.reason, c.by, c.count) for c in p.by_source] == [("sent_back", "not ready", "google", 1)]
    assert [(c.kind, c.reason, c.by, c.count) for c in p.by_problem] == [("sent_back", "not ready", "bad-stock", 1)]


def test_series_by_week_and_month(app, session, history) -> None:
    two = Period(date(2026, 2, 1), date(2026, 3, 31))
    months = metrics.series(session, two, "month", rollup.load(session, two, _library(app)).readers)
    assert [(p.start, p.end) for p in months] == [(date(2026, 2, 1), date(2026, 2, 28)),
                                                  (date(2026, 3, 1), date(2026, 3, 31))]
    # February: readers v2 (60 s) and v6 (30 s), both engaged; c3 identified; c2 entered purchase mode.
    assert months[0].values == {"visitors": 2, "engaged": 2, "identified": 1, "purchase": 1, "handed_off": 0,
                                "won": 0, "revenue": 0}
    assert months[1].values == {"visitors": 5, "engaged": 3, "identified": 3, "purchase": 2, "handed_off": 3,
                                "won": 2, "revenue": 1_300_000}
    weeks = metrics.series(session, MARCH, "week", rollup.load(session, MARCH, _library(app)).readers)
    assert weeks[0].start == date(2026, 3, 1) and weeks[1].start == date(2026, 3, 2)  # clipped to the period
    assert sum(p.values["won"] for p in weeks) == 2 and sum(p.values["revenue"] for p in weeks) == 1_300_000
    # A visitor reading in two weeks counts in each: v1 read on 2 and 10 March.
    assert [p.values["visitors"] for p in weeks] == [1, 5, 1, 0, 0, 0]


def _library(app):  # type: ignore[no-untyped-def]
    return app.extensions["cabos.content"].current()


def test_a_conversion_page_shares_its_revenue_among_the_problems_read_about() -> None:
    from datetime import UTC, datetime

    def on(day: int) -> datetime:
        return datetime(2026, 3, day, tzinfo=UTC)

    read = metrics.Win(1, 1, 7, on(20), 9000, "EUR", on(10), None)
    only_pricing = metrics.Win(2, 2, 8, on(20), 1000, "EUR", on(10), None)
    trails = {
        7: [attribution.Touch(on(1), "article", "a1", ("slow-orders",), 1),
            attribution.Touch(on(2), "article", "a2", ("bad-stock", "slow-orders"), 2),
            attribution.Touch(on(3), "page", "precios", (), 3)],  # the last touch: no problem
        8: [attribution.Touch(on(3), "page", "precios", (), 4)],
    }
    result = attribution.attribute([read, only_pricing], trails)
    problems = {c.key: c.cents for c in result.problems}
    # Last touch: the pricing page, shared between the two problems read about; the deal whose trail
    # names no problem is the only "(no problem read)".
    assert {k: v["last"] for k, v in problems.items()} == {"slow-orders": 4500, "bad-stock": 4500, "": 1000}
    assert problems["slow-orders"]["linear"] == pytest.approx(3000 + 1500 + 1500)
    (page,) = result.conversion_pages("last")
    assert (page.key, page.cents["last"], page.deals) == ("precios", 10_000, 2)
