"""Security headers on every route; cookie attributes; proxy trust; health checks."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from cabos.content import current_library
from cabos.site.security import CSP

REQUIRED = {
    "Content-Security-Policy": {CSP},
    "X-Content-Type-Options": {"nosniff"},
    # pages that carry tokens in their URL may be stricter
    "Referrer-Policy": {"strict-origin-when-cross-origin", "same-origin", "no-referrer"},
}


def _urls(app: Flask) -> list[str]:
    """One concrete URL per GET rule, filling converters with real values where we can."""
    with app.test_request_context():
        lib = current_library()
        samples = {
            "slug": next(iter(lib.articles), "x"),
        }
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", samples.get(arg, "x"), path)
        urls.append(path)
    return urls


def test_every_route_sends_the_security_headers(app: Flask, client) -> None:
    urls = _urls(app)
    assert len(urls) > 8
    for url in urls:
        resp = client.get(url)
        assert resp.status_code < 500, url
        for header, value in REQUIRED.items():
            assert resp.headers.get(header) in value, (url, header)
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP here


def test_csp_allows_only_our_own_code() -> None:
    assert "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    assert "object-src 'none'" in CSP and "base-uri 'none'" in CSP and "frame-ancestors 'none'" in CSP


@pytest.fixture
def https_app(app_factory, content_dir):
    return app_factory(content_dir, SITE_URL="https://www.example.test", TRUSTED_PROXY_HOPS=1)


def test_https_site_gets_hsts_host_prefixed_secure_cookies(https_app: Flask) -> None:
    assert https_app.config["SESSION_COOKIE_NAME"] == "__Host-cabos_session"
    assert https_app.config["SESSION_COOKIE_SECURE"] is True
    client = https_app.test_client()
    resp = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_proxy_headers_ignored_unless_configured(app: Flask, client) -> None:
    resp = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok", "content": "ok"}


def test_readyz_reports_an_unreachable_database(app_factory, content_dir, tmp_path) -> None:
    app = app_factory(content_dir, DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/x.sqlite3")
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.json["checks"]["database"].startswith("unreachable")


def test_json_request_log_has_no_personal_data(app_factory, content_dir, caplog) -> None:
    app = app_factory(content_dir, LOG_FORMAT="json")
    with caplog.at_level("INFO", logger="cabos.requests"):
        app.test_client().get("/articulos/?email=ana@example.com", headers={"User-Agent": "secret-agent"})
    (record,) = [r for r in caplog.records if r.name == "cabos.requests"]
    assert record.http["path"] == "/articulos/" and record.http["status"] == 200
    flat = str(record.__dict__)
    assert "ana@example.com" not in flat and "secret-agent" not in flat and "127.0.0.1" not in flat


def test_json_request_log_covers_beacons_and_hides_tokens_in_paths(app_factory, content_dir, caplog) -> None:
    app = app_factory(content_dir, LOG_FORMAT="json")
    client = app.test_client()
    with caplog.at_level("INFO", logger="cabos.requests"):
        client.post("/t/e", data="not json", content_type="text/plain")
        client.get("/e/u/secret-token-of-a-contact")
    records = [r.http for r in caplog.records if r.name == "cabos.requests"]
    assert records[0] == {**records[0], "method": "POST", "path": "/t/e", "status": 400}
    assert records[1]["path"] == "/e/u/<token>"
    assert "secret-token" not in str([r.__dict__ for r in caplog.records])
