"""The guide's form in a real browser (chromium): what only a page can show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer


@pytest.fixture
def page(chromium) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1000, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_clicking_the_consent_sentence_ticks_the_box(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/guides/count-stock")
    box = page.locator("#consent-box")
    assert not box.is_checked()
    page.locator("label[for=consent-box]").click()
    assert box.is_checked()
    assert page.locator("[id=consent]").count() == 1  # the banner alone has that id
