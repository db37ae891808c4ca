"""Fuzzing the beacon endpoint: no input gives a 5xx, and a rejected payload changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.schema import metadata
from cabos.tracking.models import ContentView, DropCount
from tests.tracking.conftest import HEADERS

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(session: Session) -> tuple[Any, ...]:
    """Row counts of every table plus the counters (which change without new rows)."""
    session.expire_all()
    rows = tuple(session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables)
    counters = (session.scalar(select(func.coalesce(func.sum(DropCount.count), 0))),
                session.scalar(select(func.coalesce(func.sum(ContentView.views), 0))))
    return rows + counters


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["token", "nonce", "seq", "engaged_ms", "scroll_pct", "read_to_end", "age_ms", "ctas", "query",
          "referrer", "dnt", "webdriver"]
# Near misses of the real shape: every field present or not, each with any JSON value.
shaped = st.fixed_dictionaries({}, optional={k: json_values for k in [*FIELDS, "extra"]})
bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    st.integers(4000, 9000).map(lambda n: b'{"token": "' + b"a" * n + b'"}'),
)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"TRACKING_RATE_LIMIT": "100000 per minute"}


@FUZZ
@given(body=bodies, content_type=st.sampled_from(["text/plain;charset=UTF-8", "application/json",
                                                   "application/x-www-form-urlencoded", "multipart/form-data"]))
def test_no_body_gives_a_server_error_and_rejects_store_nothing(client: FlaskClient, session: Session,
                                                               body: bytes, content_type: str) -> None:
    before = snapshot(session)
    resp = client.post("/t/e", data=body, headers={**HEADERS, "Content-Type": content_type})
    assert resp.status_code in (204, 400), resp.get_data(as_text=True)[:300]
    if resp.status_code == 400:
        assert resp.json["detail"].startswith("invalid payload")
        assert "Set-Cookie" not in resp.headers
        assert snapshot(session) == before


@FUZZ
@given(headers=st.dictionaries(
    st.sampled_from(["User-Agent", "Origin", "Referer", "Sec-Fetch-Site", "DNT", "Sec-GPC", "Cookie",
                     "X-Forwarded-For", "Content-Length"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80), max_size=5))
def test_no_header_gives_a_server_error(client: FlaskClient, payload, articles, headers: dict[str, str]) -> None:
    body = json.dumps(payload(articles[0]))
    try:
        resp = client.post("/t/e", data=body, headers={**HEADERS, **headers})
    except ValueError:
        return  # the test client refuses to send it (e.g. a Content-Length that is not a number)
    assert resp.status_code in (204, 400)


# -- schemathesis against the served OpenAPI document ----------------------------------------
# Driven through its Python API: its pytest plugin (from_fixture) does not run on pytest 9.

@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_the_openapi_contract(app: Flask, session: Session, mode: schemathesis.GenerationMode) -> None:
    api = schemathesis.openapi.from_wsgi("/t/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} == {"POST /t/e", "POST /t/consent"}
    seen: set[int] = set()
    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            before = snapshot(session)
            # Every default check: no server error, documented status and content type, response
            # schema, and (negative mode) invalid data rejected.
            response = case.call_and_validate(headers={"User-Agent": HEADERS["User-Agent"]})
            seen.add(response.status_code)
            if response.status_code == 400:
                assert snapshot(session) == before

        check()
    assert seen <= {204, 400, 403} and seen
    if mode is schemathesis.GenerationMode.NEGATIVE:
        assert 400 in seen
