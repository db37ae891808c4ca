"""The page and its CSVs: staff only, the numbers of test_metrics.py as shown, CSP-safe markup."""

from __future__ import annotations

import csv
import io
import re

import pytest

from cabos import formats
from cabos.dashboard import tables
from tests.dashboard.conftest import PERIOD
from tests.dashboard.page import parse

CSV_TABLES = list(tables.TABLES)


@pytest.mark.parametrize("path", ["/staff/dashboard/", *[f"/staff/dashboard/{t}.csv" for t in CSV_TABLES]])
def test_anonymous_visitors_are_sent_to_sign_in(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["admin", "marketer", "sales"])
def test_every_staff_role_sees_the_same_page(staff_client, history, role) -> None:
    response = staff_client(role).get("/staff/dashboard/", query_string=PERIOD)
    assert response.status_code == 200
    tables_, kpis = parse(response.get_data(as_text=True))
    assert tables_["funnel-table"]["won"]["count"] == "2"
    assert kpis["revenue"] == "€13,000"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unknown_table_is_404(staff_client) -> None:
    assert staff_client("marketer").get("/staff/dashboard/nope.csv").status_code == 404


def test_an_inactive_account_cannot_open_it(app, make_staff) -> None:
    from tests.conftest import staff_login

    client = staff_login(app.test_client(), make_staff("marketer", active=False))
    assert client.get("/staff/dashboard/").status_code == 302


def test_the_page_shows_every_number(staff_client, history) -> None:
    html = staff_client("marketer").get("/staff/dashboard/", query_string=PERIOD).get_data(as_text=True)
    t, kpis = parse(html)
    funnel = {k: (v["count"], v["conversion"], v["median"]) for k, v in t["funnel-table"].items()}
    assert funnel == {
        "visitors": ("5", "—", "—"),
        "engaged": ("3", "60%", "—"),
        "identified": ("3", "100%", "—"),
        "purchase": ("2", "66.7%", "11 d 0 h (2 people)"),
        "handed_off": ("3", "150%", "1 d 0 h (3 people)"),
        "accepted": ("2", "66.7%", "1 d 12 h (2 people)"),
        "won": ("2", "100%", "14 d 0 h (2 people)"),
    }
    assert kpis == {"revenue": "€13,000", "deals": "2", "cycle": "27 d 1 h", "unattributed": kpis["unattributed"]}
    assert "€13,000" in kpis["unattributed"] and "€0" in kpis["unattributed"]

    problems = {k: (v["first"], v["last"], v["linear"]) for k, v in t["attribution-problems-table"].items()}
    assert problems == {"bad-stock": ("€0", "€6,500", "€7,000"), "slow-orders": ("€13,000", "€6,500", "€6,000")}
    items = {k: (v["first"], v["last"], v["linear"]) for k, v in t["attribution-table"].items()}
    assert items == {"article:a1": ("€13,000", "€0", "€4,000"), "guide:g1": ("€0", "€0", "€2,500"),
                     "sequence:seq-x": ("€0", "€10,000", "€2,500"), "article:a3": ("€0", "€0", "€2,500"),
                     "article:a2": ("€0", "€3,000", "€1,500")}

    cols = ("readings", "median", "read_to_end", "downloads", "identified", "before_purchase", "revenue")
    contents = {k: tuple(v[c] for c in cols) for k, v in t["content-table"].items()}
    assert contents == {
        "article:a1": ("2", "25 s", "0%", "", "1", "2", "€13,000"),
        "article:a2": ("3", "1 s", "0%", "", "0", "1", "€3,000"),
        "article:a3": ("2", "2 min 45 s", "50%", "", "1", "0", "€10,000"),
        "guide:g1": ("0", "—", "—", "1", "1", "1", "€10,000"),
    }
    assert list(t["content-table"]) == ["article:a2", "article:a1", "article:a3", "guide:g1"]  # readings, then title
    per_problem = {k: tuple(v[c] for c in cols) for k, v in t["problems-table"].items()}
    assert per_problem == {"problem:bad-stock": ("5", "11 s", "20%", "1", "1", "2", "€13,000"),
                           "problem:slow-orders": ("5", "6 s", "0%", "0", "1", "2", "€13,000")}
    per_author = {k: tuple(v[c] for c in cols) for k, v in t["authors-table"].items()}
    assert per_author == {"author:Ana": ("5", "6 s", "0%", "0", "1", "2", "€13,000"),
                          "author:Bea": ("2", "2 min 45 s", "50%", "1", "1", "1", "€10,000")}

    people = t["people-table"]
    by_name = {v["name"]: v for v in people.values()}
    assert {n: (v["received"], v["response"], v["sla"], v["accepted"], v["sent_back"], v["won"], v["revenue"])
            for n, v in by_name.items()} == {
        "Sara": ("2", "1 d 1 h", "1 / 2 (50%)", "2", "0", "2", "€13,000"),
        "Ilse": ("0", "—", "—", "0", "0", "0", "€0"),
        "Tomás": ("1", "6 h 0 min", "1 / 1 (100%)", "0", "1not ready: 1", "0", "€0"),
        "Team": ("3", "6 h 0 min", "2 / 3 (66.7%)", "2", "1not ready: 1", "2", "€13,000"),
    }
    assert re.search(r"google</th><td>Sent back</td><td>not ready</td><td class=\"num\">1<", html)


def test_sorting_the_content_table(staff_client, history) -> None:
    html = staff_client("sales").get("/staff/dashboard/", query_string={**PERIOD, "sort": "revenue", "dir": "asc"}) \
        .get_data(as_text=True)
    t, _k = parse(html)
    assert list(t["content-table"])[-1] == "article:a1"
    assert 'aria-sort="ascending"' in html


def test_the_method_switch_marks_the_chosen_method(staff_client, history) -> None:
    html = staff_client("sales").get("/staff/dashboard/", query_string={**PERIOD, "method": "first"}) \
        .get_data(as_text=True)
    assert re.search(r'aria-current="true" class="current">First touch<', html)
    assert "All of a deal&#39;s revenue goes to the first touch" in html


def test_no_inline_styles_or_scripts_and_accessible_charts(staff_client, history) -> None:
    html = staff_client("admin").get("/staff/dashboard/", query_string=PERIOD).get_data(as_text=True)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", html, re.S)
    assert len(svgs) == 6
    for svg in svgs:
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    funnel_svg = svgs[0]
    widths = [float(w) for w in re.findall(r'<rect class="bar stage-\d" [^>]*width="([\d.]+)"', funnel_svg)]
    assert len(widths) == 7 and widths[0] > widths[1] > 0


def test_csv_downloads_hold_the_page_numbers(staff_client, history) -> None:
    client = staff_client("marketer")
    response = client.get("/staff/dashboard/funnel.csv", query_string=PERIOD)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="cabos-funnel-2026-03-01-2026-03-31.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:2] == ["Stage", "People"]
    assert [r[1] for r in rows[1:8]] == ["5", "3", "3", "2", "3", "2", "2"]
    assert rows[4][3] == "264.0" and rows[8][:2] == ["Revenue won (EUR)", "13000.00"]
    people = list(csv.reader(io.StringIO(client.get("/staff/dashboard/people.csv", query_string=PERIOD)
                                         .get_data(as_text=True).lstrip("\ufeff"))))
    assert people[-1][0] == "Team" and people[-1][1] == "3" and people[-1][-1] == "13000.00"
    attribution = list(csv.reader(io.StringIO(client.get("/staff/dashboard/attribution.csv", query_string=PERIOD)
                                              .get_data(as_text=True).lstrip("\ufeff"))))
    assert attribution[1][:6] == ["Article", "a1", "Alpha article", "13000.00", "0.00", "4000.00"]
    for table in CSV_TABLES:
        assert client.get(f"/staff/dashboard/{table}.csv", query_string=PERIOD).status_code == 200


def test_csv_cells_that_look_like_formulas_are_escaped(staff_client, history, session) -> None:
    from cabos.sales.models import HandoffOutcome

    outcome = session.query(HandoffOutcome).filter_by(kind="sent_back").one()
    outcome.reason = '=HYPERLINK("http://evil.example","x")'
    session.commit()
    body = staff_client("marketer").get("/staff/dashboard/sent-back-by-source.csv", query_string=PERIOD) \
        .get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert [formats.csv_cell(v) for v in ("+1", "-2", "@x", "ok", 3, None)] == ["'+1", "'-2", "'@x", "ok", "3", ""]


def test_the_period_presets_and_custom_dates() -> None:
    from datetime import date

    from cabos.dashboard.period import from_args

    today = date(2026, 5, 10)
    assert from_args({}, today)[0].start == date(2026, 2, 10)  # 90 days, today included
    assert from_args({"range": "ytd"}, today)[0].start == date(2026, 1, 1)
    period, preset = from_args({"from": "2026-04-30", "to": "2026-04-01"}, today)
    assert (period.start, period.end, preset) == (date(2026, 4, 1), date(2026, 4, 30), "custom")
    assert from_args({"from": "garbage"}, today)[1] == "90d"
