"""Forms in a real browser (chromium): a demo request to sales, a newsletter confirmed by its link,
and a recognised contact's shorter form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact, ListSubscription
from cabos.sales.models import Handoff
from cabos.tracking.models import Event
from tests.conftest import LiveServer
from tests.forms.conftest import confirm_links
from tests.guides.conftest import deliver


@pytest.fixture
def page(chromium) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_demo_page_form_reaches_the_sales_queue_with_the_message(
        live_server: LiveServer, page: Any, session: Session) -> None:
    page.goto(f"{live_server.url}/demo")
    form = page.locator("#form-demo")
    form.get_by_label("Name").fill("Ana Pérez")
    form.get_by_label("Work email").fill("ana@example.com")
    form.get_by_label("Company").fill("Acme")
    form.get_by_label("What would you like to see?").fill("Batch picking with our own orders, please.")
    form.get_by_role("button", name="Book my demo").click()
    page.wait_for_selector("#form-thanks")
    assert "We will call you within a working day." in page.inner_text("main")
    contact = session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    assert contact is not None
    [handoff] = session.scalars(select(Handoff).where(Handoff.contact_id == contact.id))
    assert handoff.status == "new"
    [event] = session.scalars(select(Event).where(Event.type == "hand_raise"))
    assert event.data["message"] == "Batch picking with our own orders, please."


def test_the_newsletter_subscribes_after_the_confirmation_click(
        live_server: LiveServer, page: Any, session: Session, tmp_path: Path) -> None:
    page.goto(f"{live_server.url}/articles/counting")
    form = page.locator("#form-news")
    form.get_by_label("Name").fill("Luis")
    form.get_by_label("Work email").fill("luis@example.com")
    form.locator("label[for=consent-box]").click()  # the sentence ticks the box
    form.get_by_role("button", name="Send").click()
    page.wait_for_selector("#form-thanks")
    assert "Check your inbox" in page.inner_text("main")
    assert session.scalar(select(ListSubscription)) is None
    deliver(live_server.app)
    [link] = confirm_links(tmp_path)
    page.goto(live_server.url + link)
    page.locator("#confirm-button").click()
    page.wait_for_selector("#form-thanks")
    session.expire_all()
    sub = session.scalar(select(ListSubscription))
    assert sub is not None and sub.list == "news" and sub.confirmed_at is not None


def test_a_recognised_contact_sees_a_shorter_form(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/demo")
    form = page.locator("#form-demo")
    assert form.get_by_label("Work email").count() == 1
    form.get_by_label("Name").fill("Ana Pérez")
    form.get_by_label("Work email").fill("ana@example.com")
    form.get_by_label("Company").fill("Acme")
    form.get_by_role("button", name="Book my demo").click()
    page.wait_for_selector("#form-thanks")
    page.goto(f"{live_server.url}/demo")
    form = page.locator("#form-demo")
    assert "Welcome back, Ana Pérez" in form.inner_text()
    assert form.get_by_label("Work email").count() == 0 and form.get_by_label("Company").count() == 0
    assert form.get_by_label("Role").count() == 1  # never answered: still asked
    page.locator("#not-me").click()  # someone else at this computer: the whole form again
    page.wait_for_selector("#form-demo")
    assert page.locator("#form-demo").get_by_label("Work email").count() == 1
