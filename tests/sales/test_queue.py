"""The queue: hottest first, CSV export safe in spreadsheets, every parameter allow-listed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.intent.models import IntentState
from cabos.sales.handoffs import create_handoff
from cabos.formats import csv_cell as cell
from tests.conftest import staff_login


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("Marta", "Marta"), (None, ""), (12, "12"),
])
def test_cells_that_look_like_formulas_are_escaped(value: object, expected: str) -> None:
    assert cell(value) == expected


@pytest.fixture
def three(app: Flask, db, make_staff):  # type: ignore[no-untyped-def]
    """Three handoffs to one salesperson: cold and old, hot, lukewarm; names that are formulas."""
    seller = make_staff("sales")
    now = utcnow()
    with app.test_request_context("/"), db.sessions() as s:
        made = []
        for i, (name, score) in enumerate([("=cmd|' /C calc'!A0", 5.0), ("+Hot Lead", 40.0), ("@Warm", 20.0)]):
            c = Contact(email=f"q{i}@example.com", name=name, company="-Co", custom={})
            s.add(c)
            s.flush()
            s.add(IntentState(contact_id=c.id, score=score, mode="purchase", grade="A", computed_at=now,
                              mode_since=now, rules_version="x", interest={}, evidence={}))
            made.append(create_handoff(s, c, {}, now - timedelta(hours=10 - i)))
        s.commit()
        ids = [h.contact_id for h in made]
    return seller, ids


def test_hottest_first(app: Flask, three) -> None:
    seller, ids = three
    body = staff_login(app.test_client(), seller).get("/staff/queue").get_data(as_text=True)
    positions = [body.index(f"/staff/contacts/{i}\"") for i in ids]
    assert positions[1] < positions[2] < positions[0]
    waiting = staff_login(app.test_client(), seller).get("/staff/queue?sort=waiting").get_data(as_text=True)
    assert [waiting.index(f"/staff/contacts/{i}\"") for i in ids] == sorted(
        waiting.index(f"/staff/contacts/{i}\"") for i in ids)


def test_csv_export_escapes_formulas(app: Flask, three) -> None:
    seller, _ids = three
    response = staff_login(app.test_client(), seller).get("/staff/queue.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")  # the demo site is Spanish: UTF-8 with BOM, ';' between columns
    rows = list(csv.DictReader(io.StringIO(body[1:]), delimiter=";"))
    assert [r["name"] for r in rows] == ["'+Hot Lead", "'@Warm", "'=cmd|' /C calc'!A0"]
    assert {r["company"] for r in rows} == {"'-Co"}
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


NASTY = ["", "-1", "99999999999999999999", "1e9", "<script>", "' OR 1=1 --", "\x00\u202e", "{}"]


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_random_parameters_get_the_default_never_a_500(app: Flask, three, make_staff, role: str) -> None:
    seller, ids = three
    client = staff_login(app.test_client(), seller if role == "sales" else make_staff("admin"))
    reads = {"/staff/queue": ("status", "sort", "assignee", "page"), "/staff/queue.csv": ("status", "sort", "assignee"),
             "/staff/contacts": ("q", "sort", "page"), f"/staff/contacts/{ids[0]}": ("before",),
             "/staff/deliveries": ("status",)}
    for path, params in reads.items():
        for value in NASTY:
            for param in params:
                response = client.get(path, query_string={param: value})
                assert response.status_code in (200, 403), (path, param, value, response.status_code)
