"""Scheduled publishing and preview links: a piece dated later is nowhere until its time,
then everywhere without a restart; a signed preview link shows it before and expires."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine

from cabos.content.loader import load_library
from tests.conftest import CabosRunner, staff_login

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def article(title: str, extra: str = "", body: str = "## Part\n\nText.\n") -> str:
    return (f"---\ntitle: {title}\nsummary: A summary long enough to say what the piece is about to a reader.\n"
            f"problems: [slow-orders]\nstage: learn\n{extra}---\n{body}")


FILES = {
    "articles/live.md": article("Already live", "date: 2026-02-01\n"),
    "articles/tomorrow.md": article("Out tomorrow", "date: 2026-03-02\n"),
    "articles/at-ten.md": article("Out at ten", "date: 2026-03-01\npublish_at: 2026-03-01 10:30 +01:00\n"),
    "articles/wip.md": article("Work in progress", "date: 2026-02-01\ndraft: true\n",
                               "![a plan](plan.png)\n\nText.\n"),
    "articles/plan.png": b"\x89PNG\r\n\x1a\n fake but served by its bytes",
}


def visible(client, slug: str, title: str) -> dict[str, bool]:
    """Where the piece shows: its page, the index, the home page, the feed, the sitemap."""
    return {
        "page": client.get(f"/articles/{slug}").status_code == 200,
        "index": title in client.get("/articles/").get_data(as_text=True),
        "home": title in client.get("/").get_data(as_text=True),
        "feed": title in client.get("/feed.xml").get_data(as_text=True),
        "sitemap": f"/articles/{slug}<" in client.get("/sitemap.xml").get_data(as_text=True),
    }


EVERYWHERE = {"page": True, "index": True, "home": True, "feed": True, "sitemap": True}
NOWHERE = dict.fromkeys(EVERYWHERE, False)


def test_a_future_piece_appears_when_its_time_comes_without_a_restart(make_content, app_factory) -> None:
    with time_machine.travel(T0, tick=False):
        app = app_factory(make_content(FILES))
        client = app.test_client()
        assert visible(client, "live", "Already live") == EVERYWHERE
        assert visible(client, "tomorrow", "Out tomorrow") == NOWHERE
        assert visible(client, "at-ten", "Out at ten") == NOWHERE
        assert visible(client, "wip", "Work in progress") == NOWHERE
    with time_machine.travel(datetime(2026, 3, 1, 9, 31, tzinfo=UTC), tick=False):  # 10:31 in +01:00
        assert visible(client, "at-ten", "Out at ten") == EVERYWHERE
        assert visible(client, "tomorrow", "Out tomorrow") == NOWHERE
    with time_machine.travel(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC), tick=False):
        assert visible(client, "tomorrow", "Out tomorrow") == EVERYWHERE
        assert visible(client, "wip", "Work in progress") == NOWHERE  # a draft waits for no date


def test_a_bad_publish_at_is_an_error_with_file_line_and_field(make_content) -> None:
    lib = load_library(make_content({"articles/x.md": article("X", "publish_at: next week\n")}))
    assert [str(i).split(" is not")[0] for i in lib.errors] == ["articles/x.md:6: error [publish_at]: publish_at 'next week'"]


def preview_link(app, file: str) -> str:
    result = CabosRunner(app).invoke(args=["preview", file])
    assert result.exit_code == 0, result.output
    return re.search(r"http://localhost(/preview/\S+)", result.output).group(1)


def test_cabos_preview_makes_a_link_that_works_before_and_expires(make_content, app_factory) -> None:
    with time_machine.travel(T0, tick=False):
        app = app_factory(make_content(FILES), PREVIEW_LINK_MAX_AGE=3600)
        result = CabosRunner(app).invoke(args=["preview", "articles/tomorrow.md"])
        assert "articles/tomorrow.md: scheduled (goes live 2026-03-02 00:00 UTC)" in result.output
        scheduled, draft = preview_link(app, "articles/tomorrow.md"), preview_link(app, "articles/wip.md")
        client = app.test_client()
        page = client.get(scheduled)
        assert page.status_code == 200 and "Out tomorrow" in page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "private, no-store" and "noindex" in page.headers["X-Robots-Tag"]
        assert "tracker.js" not in page.get_data(as_text=True)  # a preview is not a reading
        html = client.get(draft).get_data(as_text=True)
        assert 'data-status="draft"' in html
        image = re.search(r'src="(/media/[^"]+)"', html).group(1).replace("&amp;", "&")
        with client.get(image) as served:
            assert served.status_code == 200  # the draft's image, for whoever has its hash
        assert client.get(image.split("?")[0]).status_code == 404
        assert client.get(scheduled[:-3] + "abc").status_code == 404  # cut or forged
        assert client.get("/preview/<script>").status_code == 404
        missing = CabosRunner(app).invoke(args=["preview", "articles/nope.md"])
        assert missing.exit_code != 0 and "articles/nope.md: no article" in missing.output
    with time_machine.travel(T0 + timedelta(minutes=59), tick=False):
        assert client.get(scheduled).status_code == 200
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        expired = client.get(scheduled)
        assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_the_staff_content_page_lists_what_is_not_live_with_preview_links(make_content, app_factory,
                                                                          make_staff) -> None:
    with time_machine.travel(T0, tick=False):
        app = app_factory(make_content(FILES))
        marketer = staff_login(app.test_client(), make_staff("marketer"))
        html = marketer.get("/staff/content").get_data(as_text=True)
        rows = re.findall(r'<tr data-source="([^"]+)">', html)
        assert rows == ["articles/at-ten.md", "articles/tomorrow.md", "articles/wip.md"]
        link = re.search(r'href="http://localhost(/preview/[^"]+)"', html).group(1)
        assert "Out at ten" in app.test_client().get(link).get_data(as_text=True)
        assert staff_login(app.test_client(), make_staff("sales")).get("/staff/content").status_code == 403
        assert app.test_client().get("/staff/content").status_code in (302, 401)


def test_check_warns_about_search_engine_basics(make_content, app_factory) -> None:
    long_title = "A title far too long for any search result page to show it whole to the people"
    root = make_content({
        "articles/long.md": article(long_title, "date: 2026-01-01\n"),
        "articles/short.md": "---\ntitle: Twin\nsummary: Too short.\nproblems: [slow-orders]\nstage: learn\n"
                             "date: 2026-01-01\n---\n![](x.png) and ![fine](x.png)\n",
        "articles/twin.md": article("twin", "date: 2026-01-01\n"),
        "articles/x.png": b"\x89PNG\r\n\x1a\n",
    })
    result = CabosRunner(app_factory(root)).invoke(args=["check"])
    lines = result.output.splitlines()
    assert f"articles/long.md:2: warning [title]: the title is {len(long_title)} characters long: search results cut it " \
           "after about 70 (SEO)" in lines
    assert "articles/short.md:3: warning [summary]: the summary is 10 characters long: under 50 it says too " \
           "little in search results and link previews (SEO)" in lines
    assert sum("no alt text" in line for line in lines) == 1
    assert "articles/twin.md:2: warning [title]: the title is the same as articles/short.md's: search " \
           "results cannot tell them apart (SEO)" in lines
    # Advice, not a failure (the demo content, with its SEO suggestions, passes `cabos check --strict`:
    # tests/intent/test_rules.py).
    assert result.exit_code == 0, result.output
    assert "4 SEO suggestions" in lines[-1]
