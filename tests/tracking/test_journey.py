"""The whole journey through the real endpoints: three anonymous readings, then the lead form."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.tracking.trail import trail
from tests.guides.conftest import csrf_token
from tests.tracking.conftest import HEADERS

GUIDE = """---
title: Ship orders on time
summary: Find the bottleneck and plan for peak season.
problems: [slow-orders]
date: 2026-02-01
---
## Measure the cycle

Five phases from order to truck.
"""


def article(n: int) -> str:
    return (f"---\ntitle: Article {n}\nsummary: Part {n}.\nproblems: [slow-orders]\nstage: learn\n"
            f"date: 2026-01-0{n}\n---\n## Part\n\nText {n}.\n")


@pytest.fixture
def content_dir(make_content) -> Path:
    return make_content({"guides/ship-on-time.md": GUIDE, **{f"articles/article-{n}.md": article(n) for n in (1, 2, 3)}})


def test_three_anonymous_readings_then_the_lead_form(client: FlaskClient, send, payload, articles,
                                                     session: Session) -> None:
    read = sorted(articles, key=lambda d: d.slug)  # article-1, -2, -3, read in that order
    depths = [(40_000, 55, False), (120_000, 100, True), (8_000, 20, False)]
    for doc, age, (engaged, scroll, end) in zip(read, [300_000, 200_000, 100_000], depths):
        body = payload(doc, engaged_ms=engaged // 2, scroll_pct=scroll // 2, age_ms=age)
        send(body)  # tab hidden once...
        send({**body, "seq": 1, "engaged_ms": engaged, "scroll_pct": scroll, "read_to_end": end})  # ...then left
    token = csrf_token(client, "/guides/ship-on-time")
    resp = client.post("/guides/ship-on-time", headers=HEADERS,
                       data={"name": "Ana Pérez", "email": "ana@example.com", "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]

    contact = session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    events = trail(session, contact.id)
    readings = [e for e in events if e.type == "reading"]
    assert [e.content_slug for e in readings] == ["article-3", "article-2", "article-1"]  # newest first
    assert [(e.engaged_ms, e.scroll_pct, e.read_to_end) for e in readings] == depths[::-1]
    assert {e.type for e in events} >= {"merge", "form_submit"}
    assert [e for e in events if e.type == "merge"][0].data["attached"] == 3
