"""Forms placed on pages: demo requests to the sales queue, the newsletter by double opt-in, `cabos check`."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import ConsentRecord, Contact, ListSubscription, PendingSubmission
from cabos.content.loader import load_library
from cabos.nurture.links import unsubscribe_token
from cabos.sales.models import Handoff
from cabos.site.form_specs import FormsExtension, forms_of
from cabos.tracking.models import Event
from tests.conftest import write
from tests.forms.conftest import confirm_links, post_form, press
from tests.guides.conftest import deliver

DEMO = {"name": "Ana Pérez", "email": "ana@example.com", "f_company": "Acme", "f_role": "COO",
        "message": "Can it handle lots & <batches>?"}


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_demo_page_shows_its_form_the_privacy_notice_and_the_policy_links(client: FlaskClient) -> None:
    resp = client.get("/demo")
    assert resp.status_code == 200 and "no-store" in resp.headers["Cache-Control"]  # a CSRF token: never shared
    page = resp.get_data(as_text=True)
    assert 'action="/forms/demo"' in page and 'name="message"' in page and 'name="f_company"' in page
    assert "What would you like to see?" in page and "Book my demo" in page
    assert "Data controller: Test Co Ltd" in page and "privacy@example.test" in page
    assert page.count('href="/privacy"') >= 2 and 'href="/legal"' in page  # the notice, the footer
    assert 'action="/forms/news"' not in page  # placed on the article only
    assert client.get("/legal").status_code == 200


def test_a_demo_request_reaches_the_sales_queue_with_its_message(
        client: FlaskClient, session: Session, staff_client) -> None:  # type: ignore[no-untyped-def]
    resp = post_form(client, "demo", "page/demo", "/demo", **DEMO)
    assert resp.status_code == 200 and "We will call you within a working day." in resp.get_data(as_text=True)
    contact = session.scalar(select(Contact))
    assert contact is not None and (contact.company, contact.role) == ("Acme", "COO")
    [event] = session.scalars(select(Event).where(Event.type == "hand_raise"))
    assert event.contact_id == contact.id
    assert event.data == {"form": "demo", "kind": "demo", "message": "Can it handle lots & <batches>?"}
    [handoff] = session.scalars(select(Handoff))
    assert handoff.contact_id == contact.id and handoff.status == "new"
    page = staff_client("admin").get(f"/staff/contacts/{contact.id}").get_data(as_text=True)
    assert "Can it handle lots &amp; &lt;batches&gt;?" in page  # on the contact page, escaped

    again = post_form(client, "demo", "page/demo", "/demo", **DEMO)  # a double click, a reload
    assert again.status_code == 200
    assert _count(session, Handoff) == 1  # the open handoff stays the one handoff
    assert len(session.scalars(select(Event).where(Event.type == "hand_raise")).all()) == 1


def test_errors_come_back_by_field_with_what_was_typed_and_nothing_is_stored(
        client: FlaskClient, session: Session) -> None:
    resp = post_form(client, "demo", "page/demo", "/demo", **{**DEMO, "f_company": "", "email": "ana@"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'aria-describedby="f_company-error"' in page and 'aria-describedby="email-error"' in page
    assert 'value="Ana Pérez"' in page and "Can it handle lots &amp; &lt;batches&gt;?" in page
    assert _count(session, Contact) == 0
    assert post_form(client, "demo", "article/counting", "/demo", **DEMO).status_code == 404  # not placed there
    assert post_form(client, "nope", "page/demo", "/demo", **DEMO).status_code == 404
    assert client.post("/forms/demo", data=DEMO).status_code == 400  # no CSRF token


def test_a_known_address_from_another_browser_asks_sales_only_once_confirmed(
        app: Flask, client: FlaskClient, session: Session, tmp_path: Path) -> None:
    post_form(client, "demo", "page/demo", "/demo", **DEMO)
    stranger = app.test_client()
    resp = post_form(stranger, "demo", "page/demo", "/demo", **{**DEMO, "f_company": "Evil", "message": "Call me"})
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    assert _count(session, PendingSubmission) == 1
    assert len(session.scalars(select(Event).where(Event.type == "hand_raise")).all()) == 1  # not on the trail yet
    assert session.scalar(select(Contact.company)) == "Acme"
    deliver(app)
    [link] = confirm_links(tmp_path)
    done = press(stranger, link)
    assert done.status_code == 200 and "We will call you" in done.get_data(as_text=True)
    assert session.scalar(select(Contact.company)) == "Evil"
    assert [e.data["message"] for e in session.scalars(
        select(Event).where(Event.type == "hand_raise").order_by(Event.id))] == [DEMO["message"], "Call me"]
    assert _count(session, Handoff) == 1  # the open handoff stays the one handoff


def test_the_newsletter_subscribes_only_after_the_confirmation_click(
        app: Flask, client: FlaskClient, session: Session, tmp_path: Path) -> None:
    fields = {"name": "Luis", "email": "luis@example.com"}
    refused = post_form(client, "news", "article/counting", "/articles/counting", **fields)
    assert refused.status_code == 422 and "Please tick the box to subscribe." in refused.get_data(as_text=True)
    resp = post_form(client, "news", "article/counting", "/articles/counting", consent="y", **fields)
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    contact = session.scalar(select(Contact))
    assert contact is not None and contact.consent_at is None  # a ticked box is not consent yet
    assert _count(session, ListSubscription) == 0 and _count(session, ConsentRecord) == 0
    assert deliver(app).sent == 1
    [link] = confirm_links(tmp_path)
    assert press(client, link).status_code == 200
    session.expire_all()
    [sub] = session.scalars(select(ListSubscription))
    assert (sub.contact_id, sub.list, sub.unsubscribed_at) == (contact.id, "news", None) and sub.confirmed_at
    [record] = session.scalars(select(ConsentRecord))
    assert (record.form, record.content, record.confirmed_how, record.language) == (
        "news", "article/counting", "email_link", "en")
    assert record.text.startswith("I want to receive the newsletter") and len(record.text_version) == 12
    assert record.given_at <= record.confirmed_at
    assert session.get(Contact, contact.id).consent_at is not None  # type: ignore[union-attr]
    assert client.get(link).status_code == 409  # once

    # One click in any nurture email withdraws it, and the withdrawal is kept on the record.
    token = unsubscribe_token(str(app.secret_key), 999_999, contact.id, contact.email)
    assert client.post(f"/e/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.expire_all()
    record = session.get(ConsentRecord, record.id)
    assert record is not None and record.withdrawn_at is not None and record.withdrawn_how == "one_click"
    assert session.get(ListSubscription, sub.id).unsubscribed_at is not None  # type: ignore[union-attr]
    assert session.get(Contact, contact.id).consent_at is None  # type: ignore[union-attr]


def test_cabos_check_names_file_line_and_field_of_each_form_mistake(make_content) -> None:  # type: ignore[no-untyped-def]
    from tests.forms.conftest import FILES
    root = make_content(FILES)
    write(root, {"forms/bad.yml": "kind: demo\ntitle: Bad\nshow_on: [pages/nope.md]\nfields: [{name: x}]\n"
                                  "list: news\ncolour: red\n",
                 "forms/Worse.yml": "kind: webinar\n"})
    library = load_library(root, [FormsExtension()])
    found = {(i.file, i.line, i.field) for i in library.errors}
    assert ("forms/bad.yml", 3, "show_on[1]") in found
    assert ("forms/bad.yml", 4, "fields") in found
    assert ("forms/bad.yml", 5, "list") in found
    assert ("forms/bad.yml", 6, "colour") in found
    assert ("forms/Worse.yml", 1, "kind") in found and ("forms/Worse.yml", None, None) in found
    assert set(forms_of(library).by_name) == {"demo", "news"}  # the broken ones are left out
