"""The guide's email goes through a real SMTP server (aiosmtpd on loopback) and its link works."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.guides.conftest import submit, token_from
from tests.guides.test_download import _links_in


@pytest.fixture
def app_config(smtp_server) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "MAIL_FROM": "guides@example.test"}


def test_the_email_arrives_by_smtp_with_a_working_link(client: FlaskClient, smtp_server, session: Session) -> None:  # type: ignore[no-untyped-def]
    resp = submit(client, name="Ana Pérez", email="ana@example.com")
    assert resp.status_code == 303
    [delivered] = smtp_server.messages
    assert delivered.rcpt_tos == ["ana@example.com"]
    message = delivered.message
    assert message["Subject"] == "Your guide: Count stock right"
    assert message["To"] == "Ana Pérez <ana@example.com>"
    assert message["From"] == "Test Co <guides@example.test>"
    [link] = _links_in(message.as_bytes())
    assert link.startswith("http://localhost/guides/count-stock/download?token=")
    assert token_from(link) == token_from(resp.headers["Location"])
    html = message.get_body(("html",)).get_content()
    assert f'href="{link}"' in html.replace("&amp;", "&")
    pdf = client.get(link.removeprefix("http://localhost"), buffered=True)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")


def test_a_refused_address_still_gets_the_guide_on_the_page(client: FlaskClient, smtp_server) -> None:  # type: ignore[no-untyped-def]
    smtp_server.refuse("ana@example.com")
    resp = submit(client)
    assert resp.status_code == 303
    assert "mailed=0" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "We could not email you the link just now" in page
    assert 'id="download"' in page
    assert smtp_server.messages == []
