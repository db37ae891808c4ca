"""What an outside probe sent to the landed app, each once a 500 or a leak: now a clear 4xx, and
the value stored is what a person could have meant."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.site.forms import clean_text

RLO = "\u202e"


def guide_path(app: Flask) -> str:
    with app.test_request_context("/"):
        guide = next(iter(current_library().guides.values()))
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "guides.landing")
        return rule.rule.replace("<slug>", guide.slug)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": False}  # the form's own checks are the subject here


def lead(**extra: Any) -> dict[str, Any]:
    fields = {"company": "Almacenes Ruiz", "role": "Jefa", "company_size": "10-49", "country": "ES", **extra}
    return {"email": "ana@example.com", "name": fields.pop("name", "Ana Ruiz"), "consent": "y",
            **{f"f_{k}": v for k, v in fields.items()}}


def test_a_file_sent_in_a_text_field_of_the_lead_form_is_a_clear_error(app: Flask, client: FlaskClient,
                                                                       session) -> None:  # type: ignore[no-untyped-def]
    response = client.post(guide_path(app), content_type="multipart/form-data",
                           data=lead(name=(io.BytesIO(b"GIF89a"), "x.gif"), company=(io.BytesIO(b"x"), "c.txt")))
    assert response.status_code == 422
    assert session.scalar(select(Contact)) is None


def test_invisible_control_characters_are_removed_from_every_text_field(app: Flask, client: FlaskClient,
                                                                        session) -> None:  # type: ignore[no-untyped-def]
    response = client.post(guide_path(app), data=lead(
        name=f"Ana {RLO}moc.live\u200b\u2066", company=f"Almacenes\u0000 Ruiz\u202a\ufeff\u0007",
        role="Jefa\u200f de\u061c almacén"))
    assert response.status_code in (302, 303), response.status_code
    contact = session.scalar(select(Contact))
    assert contact is not None
    assert (contact.name, contact.company, contact.role) == ("Ana moc.live", "Almacenes Ruiz", "Jefa de almacén")


@pytest.mark.parametrize(("raw", "clean"), [
    ("Ana\u202eRuiz", "AnaRuiz"), ("a\r\nb\tc", "a  b c"), ("x\u2067y\u2069", "xy"), ("\x1b[31mred", "[31mred"),
    ("میرزا\u200cعلی", "میرزا\u200cعلی"), ("👩\u200d💻", "👩\u200d💻"), ("José Ñúñez", "José Ñúñez"),
])
def test_clean_text_keeps_writing_and_drops_controls(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_a_message_box_keeps_its_line_breaks() -> None:
    assert clean_text("Hola,\r\nuna\u202e pregunta:\n\x00¿precio?", lines=True) == "Hola,\nuna pregunta:\n¿precio?"


def test_ids_past_the_columns_range_are_404(staff_client) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("admin")
    for number in (2**31, 2**63, 2**64, 10**30):
        for path in ("/api/contacts/{n}", "/api/contacts/{n}/trail", "/api/handoffs/{n}", "/staff/contacts/{n}"):
            assert client.get(path.format(n=number)).status_code == 404, (path, number)


def test_dashboard_dates_at_the_calendars_edges_are_clamped(staff_client) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("admin")
    for query in ("to=0001-01-01", "from=9999-12-31", "from=0001-01-01&to=9999-12-31",
                  "from=9999-12-31&to=9999-12-31&every=month", "from=0001-01-01&to=0001-01-01"):
        for page in ("/staff/dashboard/", "/staff/dashboard/funnel.csv", "/staff/dashboard/people.csv"):
            assert client.get(f"{page}?{query}").status_code == 200, (page, query)


def test_a_405_says_which_methods_are_allowed(client: FlaskClient) -> None:
    for method, path, allowed in (("DELETE", "/", {"GET", "HEAD"}), ("PUT", "/api/contacts", {"GET", "HEAD"}),
                                  ("GET", "/staff/logout", {"POST"}), ("PATCH", "/t/e", {"POST"})):
        response = client.open(path, method=method)
        assert response.status_code == 405, path
        assert set(response.headers["Allow"].replace(" ", "").split(",")) >= allowed, path


def test_openapi_documents_name_the_configured_site_not_the_host_header(client: FlaskClient) -> None:
    for path in ("/api/openapi.json", "/t/openapi.json"):
        doc = client.get(path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}).get_json()
        assert doc["servers"] and all(s["url"].startswith("http://localhost") for s in doc["servers"])
        assert "evil" not in str(doc)


def test_a_json_body_sent_to_a_form_is_a_4xx(staff_client) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("admin")
    for path in ("/staff/nurture/in-doubt/1", "/staff/logout", "/staff/login"):
        for body in ("[1, 2]", '"x"', "3"):
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code == 415, (path, body, response.status_code)
