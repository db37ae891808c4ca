"""The landing page and its lead form: validation, CSRF, honeypot, rate limit, upserts."""

from __future__ import annotations

import html as htmllib
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.tracking.models import Event
from tests.conftest import write
from tests.forms.conftest import confirm_links, press
from tests.guides.conftest import VALID, csrf_token, deliver, submit


def _contacts(session: Session) -> list[Contact]:
    session.expire_all()
    return list(session.scalars(select(Contact)))


def _mails(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "mail").glob("*.eml"))


def test_landing_shows_what_you_learn_the_problems_and_the_form(client: FlaskClient) -> None:
    resp = client.get("/guides/count-stock")
    assert resp.status_code == 200
    assert "no-store" in resp.headers["Cache-Control"]
    page = resp.get_data(as_text=True)
    assert "<h1>Count stock right</h1>" in page
    assert "Learn to measure inventory accuracy" in page
    assert "<li>Measure first</li>" in page and "<li>Count every day</li>" in page
    assert "<li>Pick a metric</li>" not in page  # chapters only
    assert 'href="/problems/bad-stock"' in page
    for name in ("name", "email", "f_company", "f_role", "f_company_size", "f_country", "f_sector", "f_team",
                 "consent", "website", "csrf_token"):
        assert f'name="{name}"' in page, name
    assert '<option value="Wholesale">Wholesale</option>' in page
    assert '<option value="250-999">250-999</option>' in page


def test_articles_on_the_problem_offer_the_guide_and_the_index_lists_it(client: FlaskClient) -> None:
    article = client.get("/articles/counting").get_data(as_text=True)
    assert 'data-cta="guide" href="/guides/count-stock"' in article
    index = client.get("/guides")
    assert index.status_code == 200
    assert 'href="/guides/count-stock"' in index.get_data(as_text=True)
    assert 'href="/guides/ship-on-time"' in index.get_data(as_text=True)
    slash = client.get("/guides/")  # typed with a trailing slash: the index, not a 404
    assert slash.status_code == 308 and slash.headers["Location"].endswith("/guides")
    home = client.get("/").get_data(as_text=True)
    assert 'rel="icon" type="image/svg+xml" href="data:image/svg+xml,' in home  # inline: no extra request
    css = client.get("/guides/covers.css").get_data(as_text=True)
    assert '.guide-cover[data-slug="count-stock"]{background:#123456}' in css


def test_spanish_sites_use_spanish_paths(app_factory, make_content) -> None:  # type: ignore[no-untyped-def]
    from tests.guides.conftest import FILES
    client = app_factory(make_content(FILES, language="es")).test_client()
    page = client.get("/guias/count-stock")
    assert page.status_code == 200
    assert "Quiero la guía" in page.get_data(as_text=True)
    assert client.get("/guias").status_code == 200
    assert client.get("/guides/count-stock").status_code == 404


def test_a_valid_submission_creates_the_contact_records_it_and_mails_the_link(
        client: FlaskClient, session: Session, tmp_path: Path) -> None:
    resp = submit(client, query="utm_source=newsletter&utm_campaign=spring", email="  Ana@Example.COM ",
                  f_team="12", consent="y")
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/guides/count-stock/thanks?token=")
    [contact] = _contacts(session)
    assert contact.email == "ana@example.com"
    assert (contact.name, contact.company, contact.role, contact.company_size, contact.country) == (
        "Ana Pérez", "Acme", "Ops lead", "10-49", "Spain")
    assert contact.custom == {"sector": "Retail", "team": "12"}
    assert contact.consent_at is None  # a ticked box counts once the emailed confirmation is clicked
    assert contact.first_touch["source"] == "newsletter"
    assert contact.first_touch["campaign"] == "spring"
    assert contact.first_touch["landing"] == "/guides/count-stock"
    [event] = session.scalars(select(Event).where(Event.contact_id == contact.id, Event.type == "form_submit"))
    assert (event.content_kind, event.content_slug, event.problems) == ("guide", "count-stock", ["bad-stock"])
    assert event.data["new_contact"] is True
    assert _mails(tmp_path) == []  # queued: the request does not wait for the mail server
    assert deliver(client.application).sent == 1  # one email: the guide's link, and the consent to confirm
    [mail] = _mails(tmp_path)
    text = message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "/guides/count-stock/download?token=" in text
    [confirm] = confirm_links(tmp_path)
    press(client, confirm)
    session.expire_all()
    assert session.get(Contact, contact.id).consent_at is not None  # type: ignore[union-attr]
    assert deliver(client.application).sent == 0  # and nothing more to send


CASES = [
    ("name", "", "Please tell us your name."),
    ("name", "   ", "Please tell us your name."),
    ("name", "x" * 201, "Keep it under 200 characters."),
    ("email", "", "Please enter your email address."),
    ("email", "not-an-email", "This does not look like an email address"),
    ("email", "ana@localhost", "This does not look like an email address"),
    ("email", "a b@example.com", "This does not look like an email address"),
    ("email", "ana@@example.com", "This does not look like an email address"),
    ("email", "ana@exa_mple.com", "This does not look like an email address"),
    ("email", "a" * 250 + "@example.com", "This address is too long."),
    ("f_role", "", "Please fill in this field."),
    ("f_company_size", "", "Please fill in this field."),
    ("f_company_size", "a million", "Choose one of the options in the list."),
    ("f_sector", "Mining", "Choose one of the options in the list."),
    ("f_sector", None, "Please fill in this field."),
    ("f_company", "c" * 201, "Keep it under 200 characters."),
    ("f_country", "c" * 101, "Keep it under 100 characters."),
    ("f_team", "t" * 201, "Keep it under 200 characters."),
]


@pytest.mark.parametrize(("field", "value", "message"), CASES, ids=[f"{f}-{i}" for i, (f, _v, _m) in enumerate(CASES)])
def test_each_field_error_is_shown_inline_and_keeps_what_was_typed(
        client: FlaskClient, session: Session, field: str, value: str | None, message: str) -> None:
    resp = submit(client, **{field: value, "f_company": "Acme & <Sons>" if field != "f_company" else value})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Please check the fields marked below." in page
    assert htmllib.escape(message, quote=False) in page
    assert f'aria-describedby="{field}-error"' in page
    # What the person typed in the other fields is still there, escaped.
    if field != "f_company":
        assert 'value="Acme &amp; &lt;Sons&gt;"' in page
    if field != "name":
        assert 'value="Ana Pérez"' in page
    assert _contacts(session) == []


def test_a_script_in_a_name_is_stored_as_text_and_shown_escaped(client: FlaskClient, session: Session,
                                                                  tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    invalid = submit(client, name=evil, email="bad").get_data(as_text=True)
    assert evil not in invalid
    assert 'value="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in invalid
    assert submit(client, name=evil).status_code == 303
    [contact] = _contacts(session)
    assert contact.name == evil
    deliver(client.application)
    [eml] = _mails(tmp_path)
    from email import message_from_bytes, policy
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    html_part = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html_part and "&lt;script&gt;" in html_part


def test_csrf_missing_or_wrong_is_rejected(client: FlaskClient, session: Session, tmp_path: Path) -> None:
    for token in ("", "forged-token"):
        resp = submit(client, token=token)
        assert resp.status_code == 400
        assert "Reload the page and send it again" in resp.get_data(as_text=True)
    other = submit(client.application.test_client())  # a token from another session does not pass either
    assert other.status_code == 303
    stolen = csrf_token(client)
    fresh = client.application.test_client()
    assert submit(fresh, token=stolen).status_code == 400
    assert len(_contacts(session)) == 1


def test_the_honeypot_looks_like_success_but_stores_and_sends_nothing(
        client: FlaskClient, session: Session, tmp_path: Path) -> None:
    resp = submit(client, website="http://spam.example")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Thanks! Start with chapter one." in page
    assert 'id="download"' not in page
    assert _contacts(session) == []
    assert deliver(client.application).sent == 0
    assert _mails(tmp_path) == []


def test_posts_are_rate_limited_per_ip(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(content_dir, FORM_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client)
    statuses = [submit(client, token=token, email="").status_code for _ in range(3)]
    assert statuses == [422, 422, 422]
    limited = submit(client, token=token)
    assert limited.status_code == 429
    assert "Too many forms sent from your connection" in limited.get_data(as_text=True)
    assert client.get("/guides/count-stock").status_code == 200  # reading is never limited
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert submit(elsewhere).status_code == 303


def test_a_recognised_contact_is_asked_only_what_is_still_unknown(client: FlaskClient, session: Session) -> None:
    submit(client, query="utm_source=ads", f_team="5", f_country="")
    page = client.get("/guides/count-stock").get_data(as_text=True)  # the same browser: recognised
    assert 'id="recognised"' in page and "ana@example.com" in page and 'id="not-me"' in page
    assert 'name="email"' not in page and 'name="name"' not in page and 'name="f_role"' not in page
    assert 'name="f_country"' in page  # left empty the first time: asked again
    resp = submit(client, query="utm_source=newsletter&utm_medium=email", email=None, name=None, f_company=None,
                  f_role=None, f_company_size=None, f_sector=None, f_team=None, f_country="Portugal")
    assert resp.status_code == 303
    [contact] = _contacts(session)
    assert (contact.name, contact.role, contact.company, contact.country) == ("Ana Pérez", "Ops lead", "Acme",
                                                                             "Portugal")
    assert contact.custom == {"sector": "Retail", "team": "5"}
    assert contact.first_touch["source"] == "ads"
    assert contact.latest_touch["source"] == "newsletter"
    assert contact.latest_touch["medium"] == "email"
    submits = session.scalars(select(Event).where(Event.type == "form_submit").order_by(Event.id)).all()
    assert [e.data["new_contact"] for e in submits] == [True, False]
    assert session.scalar(select(func.count()).select_from(Contact)) == 1

    token = re.search(r'id="not-me-lead"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert token
    again = client.post("/not-me", data={"csrf_token": token.group(1), "page": "guide/count-stock"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/guides/count-stock")
    full = client.get("/guides/count-stock").get_data(as_text=True)  # someone else: the whole form again
    assert 'name="email"' in full and 'id="recognised"' not in full


def test_a_concurrent_insert_of_the_same_address_is_not_taken_over(
        client: FlaskClient, app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from cabos.contacts import proof
    from cabos.contacts.models import PendingSubmission
    real = proof.submit
    calls = []

    def racing(db_session, lead, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not calls:
            lookup = db_session.scalar

            def lookup_then_lose_the_race(*a, **k):  # type: ignore[no-untyped-def]
                found = lookup(*a, **k)  # nobody with this address yet...
                db_session.scalar = lookup
                with app.extensions["cabos.db"].session() as other:  # ...until another request commits one
                    other.add(Contact(email=lead.email, name="Other request", first_touch={}, latest_touch={},
                                      custom={}))
                return found

            db_session.scalar = lookup_then_lose_the_race
        calls.append(1)
        return real(db_session, lead, *args, **kwargs)

    monkeypatch.setattr(proof, "submit", racing)
    resp = submit(client)
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    assert len(calls) == 2
    [contact] = _contacts(session)
    assert contact.name == "Other request"  # this browser never proved the address: its answers wait
    [pending] = session.scalars(select(PendingSubmission))
    assert pending.contact_id == contact.id and pending.answers["name"] == "Ana Pérez"


def test_consent_can_be_required_by_the_site(app_factory, make_content, session: Session) -> None:  # type: ignore[no-untyped-def]
    from tests.guides.conftest import FILES
    root = make_content(FILES)
    site = (root / "site.yml").read_text() + "consent: required\n"
    write(root, {"site.yml": site})
    client = app_factory(root).test_client()
    refused = submit(client)
    assert refused.status_code == 422
    assert "Please accept to receive the guide by email." in refused.get_data(as_text=True)
    assert submit(client, consent="y").status_code == 303
    [contact] = _contacts(session)
    assert contact.consent_at is None  # asked for: confirmed by email (tests/forms: double opt-in)


def test_unknown_guides_are_404(client: FlaskClient) -> None:
    assert client.get("/guides/nope").status_code == 404
    assert client.post("/guides/nope", data=VALID).status_code in (400, 404)


def test_fields_say_what_browsers_may_fill_in_and_never_print_none(client: FlaskClient) -> None:
    page = client.get("/guides/count-stock").get_data(as_text=True)
    assert 'autocomplete="None"' not in page and 'autocomplete="none"' not in page
    assert 'autocomplete="email"' in page and 'autocomplete="organization"' in page
    assert 'id="consent-box"' in page and 'for="consent-box"' in page
