"""Every field, the query string and the token are attacker-controlled: no input gives a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.guides.conftest import VALID, csrf_token

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text as browsers and bots send it: any character, often short, sometimes huge or full of tricks.
nasty = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=150, max_size=400),
    st.sampled_from(["<script>alert(1)</script>", "../../etc/passwd", "%2e%2e%2f", "\x00", "' OR 1=1 --",
                     "Retail", "10-49", "ana@example.com", " ANA@EXAMPLE.COM ", "a@b.c", "ñandú@correo.es",
                     "ana@xn--bcher-kva.de", "\u202e", "😀" * 80, "{{ 7*7 }}", "\r\nBcc: x@y.z"]),
)
fields = st.fixed_dictionaries({}, optional={k: nasty for k in [*VALID, "consent", "website", "ref"]})
queries = st.dictionaries(st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                                           "token", "x", "utm_source[]"]), nasty, max_size=4)


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"FORM_RATE_LIMIT": "100000 per minute"}


@FUZZ
@given(data=fields, query=queries, referrer=nasty)
def test_the_lead_form_never_fails(client: FlaskClient, app: Flask, data: dict[str, str],
                                   query: dict[str, str], referrer: str) -> None:
    token = csrf_token(client)
    # Header values travel as latin-1 and cannot hold line breaks (the HTTP layer refuses them).
    header = "".join(c for c in referrer if c not in "\r\n").encode("utf-8", "replace").decode("latin-1")
    resp = client.post("/guides/count-stock", query_string=query, data={**data, "csrf_token": token},
                       headers={"Referer": header})
    assert resp.status_code in (200, 303, 422), resp.get_data(as_text=True)[:500]
    page = resp.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page


@FUZZ
@given(slug=nasty, token=nasty, endpoint=st.sampled_from(["download", "thanks", "new-link"]))
def test_download_urls_never_fail_and_never_serve_a_file(client: FlaskClient, slug: str, token: str,
                                                         endpoint: str) -> None:
    url = f"/guides/{quote(slug, safe='')}/{endpoint}?token={quote(token, safe='')}"
    resp = client.get(url, buffered=True)
    # 308: an empty slug makes '//', which the router merges into one slash.
    allowed = {200, 308, 403, 404, 410} if endpoint == "new-link" else {308, 403, 404, 410}
    assert resp.status_code in allowed
    assert not resp.data.startswith(b"%PDF")


@FUZZ
@given(email=nasty, extra=st.dictionaries(st.sampled_from(["website", "x"]), nasty, max_size=2))
def test_the_fresh_link_form_never_fails(client: FlaskClient, email: str, extra: dict[str, str]) -> None:
    token = csrf_token(client, "/guides/count-stock/new-link")
    resp = client.post("/guides/count-stock/new-link", data={"email": email, **extra, "csrf_token": token})
    assert resp.status_code in (200, 422)
