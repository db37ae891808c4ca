"""The database unreachable: pages from memory keep being served, the rest answers 503, never 500."""

from __future__ import annotations

from pathlib import Path

from tests.guides.conftest import content_dir, csrf_token, submit  # noqa: F401 (guide content: a form to post)

AWAY = "postgresql+psycopg://nobody@127.0.0.1:1/gone"  # nothing listens on port 1: refused at once


def test_reading_goes_on_and_writing_gets_a_clear_temporary_answer(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, DATABASE_URL=AWAY, RATELIMIT_STORAGE_URI="memory://")
    client = app.test_client()
    assert client.get("/articles/counting").status_code == 200
    assert client.get("/guides/count-stock").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    answer = submit(client, token=csrf_token(client))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert "briefly unavailable" in answer.get_data(as_text=True)
    api = client.get("/api/contacts", headers={"Accept": "application/json"})
    assert api.status_code in (401, 503)


def test_with_database_rate_limits_a_form_post_is_still_a_clear_503(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, DATABASE_URL=AWAY)
    client = app.test_client()
    answer = submit(client, token=csrf_token(client))
    assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
