"""A small library with two gated guides and an article, and helpers to fill in the form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cabos.nurture.outbox import SendCounts
from cabos.site import guide_mail

GUIDE_A = """\
---
title: Count stock right
summary: Learn to measure inventory accuracy and keep it high all year.
problems: [bad-stock]
date: 2026-01-10
cover_color: "#123456"
form:
  fields:
    - company
    - {name: role, required: true}
    - {name: company_size, required: true}
    - country
    - {name: sector, label: Sector, choices: [Retail, Wholesale], required: true}
    - {name: team, label: Team size}
thank_you: Thanks! Start with chapter one.
---
## Measure first

Accuracy by location is what matters[^1]. See [the article](/articles/counting).

### Pick a metric

Locations right over locations counted.

## Count every day

Cycle counting beats the annual count.

[^1]: Value-based accuracy hides errors that cancel out.
"""

GUIDE_B = """\
---
title: Ship orders on time
summary: Find the bottleneck and plan for peak season.
problems: [slow-orders]
date: 2026-02-01
---
## Measure the cycle

Five phases from order to truck.
"""

ARTICLE = """\
---
title: Counting basics
summary: How to count.
problems: [bad-stock]
stage: learn
date: 2026-01-01
---
Body.
"""

FILES = {"guides/count-stock.md": GUIDE_A, "guides/ship-on-time.md": GUIDE_B, "articles/counting.md": ARTICLE}

VALID = {"name": "Ana Pérez", "email": "ana@example.com", "f_company": "Acme", "f_role": "Ops lead",
         "f_company_size": "10-49", "f_country": "Spain", "f_sector": "Retail", "f_team": ""}


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    return make_content(FILES)


def csrf_token(client: FlaskClient, url: str = "/guides/count-stock") -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def submit(client: FlaskClient, slug: str = "count-stock", query: str = "", token: str | None = None,
           **fields: Any) -> TestResponse:
    """Post the lead form with valid values, overridden by ``fields`` (None removes one)."""
    url = f"/guides/{slug}" + (f"?{query}" if query else "")
    data = {**VALID, **fields}
    data = {k: v for k, v in data.items() if v is not None}
    data["csrf_token"] = token if token is not None else csrf_token(client, url)
    return client.post(url, data=data)


def token_from(location: str) -> str:
    return parse_qs(urlsplit(location).query)["token"][0]


def deliver(app: Flask) -> SendCounts:
    """What the worker does after each tick: send the guide emails the forms queued."""
    with app.app_context():
        return guide_mail.deliver(app)
