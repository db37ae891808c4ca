"""Chromium opens the dashboard on demo data (signed in through the real form) and the charts are drawn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cabos.dashboard import demo
from cabos.site import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

@pytest.fixture
def app_config(shared_pdf_cache: Path) -> dict[str, str]:
    return {"PDF_CACHE_DIR": str(shared_pdf_cache)}


@pytest.fixture
def content_dir() -> Path:
    from tests.conftest import DEMO_CONTENT

    return DEMO_CONTENT


def test_the_dashboard_on_demo_data_draws_its_charts(app, live_server, chromium, tmp_path) -> None:
    summary = demo.run(app, create_app, days=45, people=40, seed=3)
    assert summary.contacts > 5 and summary.page_views > 100
    page = chromium.new_page(viewport={"width": 1280, "height": 900})  # in a context of its own
    try:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/staff/dashboard/?range=90d")
        assert "/staff/login" in page.url
        page.fill("input[name=email]", demo.ADMIN_EMAIL)
        page.fill("input[name=password]", summary.password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/staff/dashboard/.*"))
        page.wait_for_selector("#funnel svg")
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        bars = page.eval_on_selector_all(
            "#funnel svg rect.bar", "els => els.map(e => { const b = e.getBBox(); return [b.width, b.height]; })")
        assert len(bars) == 7 and all(h > 0 for _w, h in bars) and bars[0][0] > 0
        lines = page.eval_on_selector_all(
            "#time svg path.line", "els => els.map(e => [e.getAttribute('d').length, e.getTotalLength()])")
        assert len(lines) == 6 and all(chars > 10 and length > 0 for chars, length in lines)
        visible = page.eval_on_selector_all("#time svg", "els => els.map(e => e.getBoundingClientRect().height)")
        assert all(h > 50 for h in visible)
        # The CSP let the stylesheet in and blocked nothing.
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.close()
