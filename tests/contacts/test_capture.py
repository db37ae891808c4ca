"""Capturing a lead: addresses, touches, update-not-duplicate, the trail, stitching the visitor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.capture import Lead, capture, clean_text, normalise_email, touch_from, upsert_contact, valid_email
from cabos.contacts.models import Contact
from cabos.content.model import Document
from cabos.tracking.models import Event, Visitor

NOW = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
GUIDE = Document(kind="guide", slug="count-stock", source="guides/count-stock.md", title="Count stock",
                 summary="", body="", html="", toc=(), words=0, reading_minutes=1, problems=("bad-stock",),
                 stage="learn")


@pytest.mark.parametrize(("raw", "clean"), [
    ("  Ana@Example.COM ", "ana@example.com"),
    ("\tana@example.com\n", "ana@example.com"),
    ("ANA.PEREZ+guides@Correo.ES", "ana.perez+guides@correo.es"),
    ("ana@BÜCHER.de", "ana@bücher.de"),
])
def test_addresses_are_normalised(raw: str, clean: str) -> None:
    assert normalise_email(raw) == clean
    assert valid_email(clean)


@pytest.mark.parametrize("bad", [
    "", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a b@example.com", "ana@exa mple.com",
    "ana..p@example.com", ".ana@example.com", "ana@-example.com", "ana@example.123", "ana@exa_mple.com",
    "ñandú@example.com", "a" * 65 + "@example.com", "ana@" + "b" * 64 + ".com", "ana@example.com\x00",
    "<script>@example.com",
])
def test_invalid_addresses_are_refused(bad: str) -> None:
    assert not valid_email(normalise_email(bad))


def test_clean_text_strips_control_characters_and_bounds_length() -> None:
    assert clean_text("  a\x00b\r\nc\td  ", 100) == "a b c d"
    assert clean_text("x" * 300, 200) == "x" * 200
    assert clean_text(None, 10) == ""


def test_touch_takes_utm_the_referring_host_and_the_landing_page() -> None:
    touch = touch_from({"utm_source": "news", "utm_campaign": "spring\x00", "other": "x"},
                       "https://www.google.com/search?q=secret", "/guides/count-stock", NOW)
    assert touch == {"source": "news", "campaign": "spring", "referrer": "www.google.com",
                     "landing": "/guides/count-stock", "at": NOW.isoformat()}
    assert touch_from({}, "https://www.google.com/x", "/", NOW)["source"] == "www.google.com"
    assert touch_from({}, None, "/", NOW)["source"] == "direct"
    assert touch_from({}, "http://[bad", "/", NOW)["source"] == "direct"


def test_upsert_creates_once_then_updates_without_erasing(session: Session) -> None:
    first = Lead("ana@example.com", "Ana", {"company": "Acme", "role": "Ops"}, {"sector": "Retail"}, "I agree")
    contact, created = upsert_contact(session, first, {"source": "ads", "at": NOW.isoformat()}, NOW)
    assert created
    later = NOW + timedelta(days=3)
    second = Lead("ana@example.com", "Ana Pérez", {"role": "COO"}, {"team": "5"})
    again, created_again = upsert_contact(session, second, {"source": "news", "at": later.isoformat()}, later)
    session.commit()
    assert again.id == contact.id and not created_again
    assert session.scalars(select(Contact)).one() is again
    assert (again.name, again.company, again.role) == ("Ana Pérez", "Acme", "COO")
    assert again.custom == {"sector": "Retail", "team": "5"}
    assert again.first_touch["source"] == "ads" and again.latest_touch["source"] == "news"
    assert again.consent_at is None  # a ticked box is consent only once confirmed (contacts.consent)
    assert again.created_at == NOW and again.updated_at == later


def test_capture_records_the_submission_and_stitches_the_visitor(session: Session) -> None:
    session.add(Visitor(id="a" * 32, first_touch={"source": "blog", "at": "2026-04-01T00:00:00+00:00"}))
    session.flush()
    session.add(Event(type="reading", visitor_id="a" * 32, content_kind="article", content_slug="counting",
                      view_id="v1", occurred_at=NOW - timedelta(days=2)))
    session.commit()
    contact, created = capture(session, Lead("ana@example.com", "Ana"), GUIDE,
                               {"source": "direct", "at": NOW.isoformat()}, visitor_id="a" * 32, now=NOW)
    session.commit()
    assert created
    reading = session.scalars(select(Event).where(Event.type == "reading")).one()
    assert reading.contact_id == contact.id  # the anonymous trail joined the contact
    assert contact.first_touch["source"] == "blog"  # the visitor came earlier than the form
    submit = session.scalars(select(Event).where(Event.type == "form_submit")).one()
    assert (submit.contact_id, submit.visitor_id, submit.content_slug, submit.stage, submit.problems) == (
        contact.id, "a" * 32, "count-stock", "learn", ["bad-stock"])
    assert submit.data["fields"] == ["email", "name"]
