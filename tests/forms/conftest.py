"""A small site with a demo page, an article and forms placed on them (content/forms/*.yml)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PAGE = """\
---
title: Book a demo
summary: Forty-five minutes with your own orders.
---
Fill in the form and we will call you.
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

DEMO = """\
kind: demo
title: Request a demo
show_on: [pages/demo.md]
fields:
  - {name: company, required: true}
  - role
message: What would you like to see?
submit: Book my demo
thank_you: We will call you within a working day.
"""

NEWS = """\
kind: newsletter
title: Monthly ideas
show_on: [articles/counting.md]
"""

PRIVACY = """\
privacy:
  controller: Test Co Ltd
  purpose: answering your request
  contact: privacy@example.test
  policy: /privacy
  legal: /legal
"""

FILES = {"pages/demo.md": PAGE, "pages/privacy.md": "---\ntitle: Privacy\n---\nWho, why, rights.\n",
         "pages/legal.md": "---\ntitle: Legal notice\n---\nWho runs this site.\n",
         "articles/counting.md": ARTICLE, "forms/demo.yml": DEMO, "forms/news.yml": NEWS}

CONFIRM_LINK = re.compile(r"http://localhost(/confirm\?token=[A-Za-z0-9_\-.]+)")


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    root = make_content(FILES)
    (root / "site.yml").write_text((root / "site.yml").read_text() + PRIVACY)
    return root


def csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post_form(client: FlaskClient, form: str, page: str, url: str, **fields: str) -> TestResponse:
    return client.post(f"/forms/{form}", data={"csrf_token": csrf(client, url), "page": page, **fields})


def confirm_links(tmp_path: Path) -> list[str]:
    links = []
    for eml in sorted((tmp_path / "mail").glob("*.eml")):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        links += CONFIRM_LINK.findall(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return links


def press(client: FlaskClient, path: str) -> TestResponse:
    """Open a confirmation link and press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    return client.post(path, data={"csrf_token": token.group(1)})
