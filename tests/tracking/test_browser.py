"""The tracker in a real browser (Debian's chromium, headless) against a real server.

Headless chromium never hides a tab when another one comes to the front, so a tab switch
is the real second tab plus the page's visibility flipped the way the browser would flip
it (document.visibilityState and the visibilitychange event); everything after that (the
tracker's timing, sendBeacon, cookies, the server) is real.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from cabos.content import Document
from tests.conftest import MINIMAL_SITE, LiveServer
from tests.tracking.conftest import drops, readings, views, visitors

pytestmark = pytest.mark.browser

SET_VISIBILITY = """hidden => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => hidden ? 'hidden' : 'visible'});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
  document.dispatchEvent(new Event('visibilitychange'));
  return performance.now();
}"""

DEPTH = """() => {
  const r = document.querySelector('[data-view]').getBoundingClientRect();
  return Math.round(Math.max(0, Math.min(100, (innerHeight - r.top) / r.height * 100)));
}"""


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``check()`` is truthy (beacons are asynchronous); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def context(chromium: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        ctx = chromium.new_context(viewport={"width": 1000, "height": 700}, **options)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


def cookies(ctx: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in ctx.cookies()}


def test_a_reading_with_tab_switches_is_one_reading_with_active_time_and_depth(
        live_server: LiveServer, context, articles: list[Document], session: Session) -> None:
    doc = max(articles, key=lambda d: d.words)
    ctx = context()
    page = ctx.new_page()
    wall = time.monotonic()
    page.goto(f"{live_server.url}/articulos/{doc.slug}")
    page.wait_for_load_state("load")
    start = page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive")
    page.mouse.move(300, 300)
    page.mouse.wheel(0, 1400)
    time.sleep(1.0)

    hidden_1 = page.evaluate(SET_VISIBILITY, True)  # to another tab...
    other = ctx.new_page()
    other.goto(f"{live_server.url}/")
    time.sleep(1.5)
    other.close()
    shown_1 = page.evaluate(SET_VISIBILITY, False)  # ...and back
    page.mouse.wheel(0, 1400)
    time.sleep(1.0)

    hidden_2 = page.evaluate(SET_VISIBILITY, True)
    time.sleep(1.5)
    shown_2 = page.evaluate(SET_VISIBILITY, False)
    page.mouse.wheel(0, 600)
    time.sleep(0.8)
    depth = page.evaluate(DEPTH)
    left = page.evaluate("performance.now()")
    page.goto(f"{live_server.url}/")  # leave
    wall = (time.monotonic() - wall) * 1000

    active = (hidden_1 - start) + (hidden_2 - shown_1) + (left - shown_2)
    reading = wait_for(lambda: next((r for r in readings(session) if r.engaged_ms >= active - 400), None))
    assert reading is not None, f"no reading with ~{active:.0f} ms engaged: {[(r.engaged_ms) for r in readings(session)]}"
    time.sleep(0.3)  # a late duplicate would show up now
    [reading] = readings(session)
    assert reading.content_slug == doc.slug
    assert abs(reading.engaged_ms - active) < 600, (reading.engaged_ms, active)
    assert reading.engaged_ms < wall - 2500  # the 3 s spent in the other tab do not count
    assert reading.scroll_pct == depth and 0 < depth < 100
    assert reading.read_to_end is False
    [visitor] = visitors(session)
    jar = cookies(ctx)
    assert jar["cabos_vid"]["httpOnly"] and jar["cabos_vid"]["sameSite"] == "Lax"
    assert jar["cabos_vid"]["value"].startswith(visitor.id + ".")
    assert views(session, doc.slug) == (1, 0)


def test_reading_to_the_end_and_clicking_the_call_to_action(live_server: LiveServer, context,
                                                            articles: list[Document], session: Session) -> None:
    from cabos.content import current_library
    with live_server.app.app_context():
        lib = current_library()
        doc = next(a for a in articles if lib.guide_for(a) is not None)
    ctx = context()
    page = ctx.new_page()
    page.goto(f"{live_server.url}/articulos/{doc.slug}")
    page.locator("#article-end").scroll_into_view_if_needed()
    time.sleep(0.3)
    page.locator("[data-cta]").first.click()  # leaves for the guide
    reading = wait_for(lambda: next(iter(readings(session)), None))
    assert reading is not None and reading.read_to_end and reading.scroll_pct == 100
    assert reading.data["ctas"] == ["guide"]


def test_a_guides_landing_page_is_read_like_an_article(live_server: LiveServer, context,
                                                       session: Session) -> None:
    from cabos.content import current_library
    with live_server.app.app_context():
        guide = next(iter(current_library().guides.values()))
    ctx = context()
    page = ctx.new_page()
    page.goto(f"{live_server.url}/guias/{guide.slug}")
    page.mouse.move(300, 300)
    page.mouse.wheel(0, 5000)
    time.sleep(1.0)
    page.goto(f"{live_server.url}/")  # leaves without the form
    reading = wait_for(lambda: next(iter(readings(session)), None))
    assert reading is not None, "the landing page sent no reading"
    assert (reading.content_kind, reading.content_slug, reading.stage) == ("guide", guide.slug, guide.stage)
    assert 800 <= reading.engaged_ms < 5000 and reading.scroll_pct == 100
    assert views(session, guide.slug) == (1, 0)


def test_global_privacy_control_means_no_cookie_and_no_personal_event(
        live_server: LiveServer, context, articles: list[Document], session: Session) -> None:
    # A GPC browser sends the header with every request and tells scripts too. (Chromium's
    # unload-time beacons leave without the context's extra headers: the script's flag covers them.)
    ctx = context(extra_http_headers={"Sec-GPC": "1"})
    page = ctx.new_page()
    page.goto(f"{live_server.url}/articulos/{articles[0].slug}")
    page.mouse.wheel(0, 800)
    time.sleep(0.3)
    page.evaluate(SET_VISIBILITY, True)  # a beacon from the live page: the header reaches the server
    assert wait_for(lambda: views(session, articles[0].slug) == (1, 1))  # the article's view still counts
    assert readings(session) == [] and "cabos_vid" not in cookies(ctx)
    page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})")
    page.goto(f"{live_server.url}/articulos/{articles[1].slug}")
    page.mouse.wheel(0, 800)
    time.sleep(0.3)
    page.goto(f"{live_server.url}/")
    assert wait_for(lambda: views(session, articles[1].slug) == (1, 1))
    assert "cabos_vid" not in cookies(ctx)
    assert readings(session) == [] and visitors(session) == []


class TestConsentRequired:
    @pytest.fixture
    def content_dir(self, make_content) -> Path:
        article = "---\ntitle: Counting stock\nsummary: How.\nproblems: [bad-stock]\nstage: learn\n---\n"
        article += "\n\n".join(f"## Part {i}\n" + "Words to read. " * 80 for i in range(6))
        return make_content({"site.yml": MINIMAL_SITE.format(language="en") + "consent: required\n",
                             "articles/counting-stock.md": article})

    def read(self, page: Any, url: str) -> None:
        page.goto(f"{url}/articles/counting-stock")
        page.mouse.wheel(0, 900)
        time.sleep(0.4)
        page.goto(f"{url}/")

    def test_nothing_before_consent_then_accept_then_withdraw(self, live_server: LiveServer, context,
                                                              session: Session) -> None:
        ctx = context()
        page = ctx.new_page()
        page.goto(f"{live_server.url}/articles/counting-stock")
        banner = page.locator("#consent")
        assert banner.is_visible()
        assert banner.get_by_role("button", name="Accept").is_visible()
        self.read(page, live_server.url)
        time.sleep(0.5)
        assert cookies(ctx) == {}  # no cookie of any kind
        assert readings(session) == [] and drops(session) == {}  # not even a beacon was sent
        assert views(session, "counting-stock") == (0, 0)

        # The banner goes at once, in the click itself, not when the server's answer comes back.
        assert page.evaluate("""() => {
          document.querySelector('#consent [data-consent=accept]').click();
          return document.getElementById('consent').hidden; }""")
        assert wait_for(lambda: cookies(ctx).get("cabos_consent", {}).get("value") == "yes")
        self.read(page, live_server.url)
        assert wait_for(lambda: readings(session))
        assert wait_for(lambda: "cabos_vid" in cookies(ctx))

        withdraw = page.locator("#consent-withdraw")
        assert withdraw.is_visible()
        withdraw.click()  # one click
        expect(withdraw).to_be_hidden()
        assert wait_for(lambda: "cabos_vid" not in cookies(ctx))
        assert cookies(ctx)["cabos_consent"]["value"] == "no"
        expect(page.locator("#consent-open")).to_be_visible()  # the footer redraws when the answer comes back
        self.read(page, live_server.url)
        time.sleep(0.5)
        assert len(readings(session)) == 1 and "cabos_vid" not in cookies(ctx)
        assert drops(session) == {}  # nothing sent after withdrawal


class TestWatchingAFrame:
    """A reader watching a video gives the page no input: focus inside the article's frame keeps
    the clock going (up to 10 min), where 30 s without input would stop it. Time runs on
    Playwright's clock, which drives the page's performance.now()."""

    @pytest.fixture
    def content_dir(self, make_content) -> Path:
        article = "---\ntitle: Counting stock\nsummary: How.\nproblems: [bad-stock]\nstage: learn\n---\n"
        article += "Watch this first.\n\n<iframe src=\"/robots.txt\" title=\"The video\"></iframe>\n\n"
        article += "\n\n".join(f"## Part {i}\n" + "Words to read. " * 80 for i in range(4))
        return make_content({"site.yml": MINIMAL_SITE.format(language="en") + "consent: \"off\"\n",
                             "articles/counting-stock.md": article})

    def read(self, live_server: LiveServer, context, session: Session, into_frame: bool) -> int:  # type: ignore[no-untyped-def]
        page = context().new_page()
        page.clock.install()
        page.goto(f"{live_server.url}/articles/counting-stock")
        page.mouse.move(200, 200)
        if into_frame:
            page.locator("iframe").click()  # focus moves into the frame: the window blurs
            page.wait_for_function("document.activeElement.tagName == 'IFRAME'")
        page.clock.run_for(5 * 60 * 1000)
        page.goto(f"{live_server.url}/")
        reading = wait_for(lambda: next(iter(readings(session)), None))
        assert reading is not None
        return reading.engaged_ms

    def test_five_minutes_in_the_video_count(self, live_server: LiveServer, context, session: Session) -> None:
        assert 5 * 60 * 1000 - 2000 <= self.read(live_server, context, session, into_frame=True) <= 5 * 60 * 1000 + 5000

    def test_five_minutes_without_input_and_no_frame_count_thirty_seconds(self, live_server: LiveServer, context,
                                                                          session: Session) -> None:
        assert 29_000 <= self.read(live_server, context, session, into_frame=False) <= 32_000
