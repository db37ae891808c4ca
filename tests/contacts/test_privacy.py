"""Export and erase: every table is accounted for, and the commands cover every personal one."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts import privacy
from cabos.contacts.models import Contact, Suppression
from cabos.contacts.personal_data import erase, export
from cabos.schema import metadata
from cabos.tracking.identity import identify
from cabos.tracking.models import Event, Visitor
from tests.tracking.conftest import articles, payload, send  # noqa: F401  (fixtures: beacons as the tracker sends them)

PERSON_KEYS = {"contacts", "visitors"}


def test_every_table_is_declared_personal_or_not() -> None:
    tables = set(metadata.tables)
    personal, other = set(privacy.PERSONAL), set(privacy.NOT_PERSONAL)
    missing = tables - personal - other
    assert not missing, (f"declare these tables in cabos/contacts/privacy.py, in PERSONAL (how to find "
                         f"their rows from a contact) or NOT_PERSONAL (why they hold nothing about a person): "
                         f"{sorted(missing)}")
    assert not personal & other, f"declared both ways: {sorted(personal & other)}"
    assert not (personal | other) - tables, f"no longer in the schema: {sorted((personal | other) - tables)}"


def test_the_registry_names_real_columns_and_known_locators() -> None:
    locators = {privacy.CONTACT, privacy.VISITOR, privacy.EMAIL, privacy.EMAIL_HASH}
    for name, columns in privacy.PERSONAL.items():
        assert columns, f"{name}: say which column finds its rows"
        for column, locator in columns.items():
            assert column in metadata.tables[name].c, f"{name}.{column} does not exist"
            assert locator in locators, f"{name}.{column}: unknown locator {locator!r}"
    assert set(privacy.KEPT_ON_ERASE) <= set(privacy.PERSONAL)


@pytest.mark.parametrize("name", sorted(metadata.tables))
def test_a_table_pointing_at_a_person_cannot_claim_to_be_impersonal(name: str) -> None:
    table = metadata.tables[name]
    points_at_person = {fk.column.table.name for fk in table.foreign_keys} & PERSON_KEYS
    named_like_person = {"contact_id", "visitor_id", "email_hash"} & set(table.c.keys())
    if points_at_person or named_like_person:
        assert name in privacy.PERSONAL, f"{name} refers to a person: register it in privacy.PERSONAL"
        registered = set(privacy.PERSONAL[name])
        for fk in table.foreign_keys:
            if fk.column.table.name in PERSON_KEYS:
                assert fk.parent.name in registered, (
                    f"{name}.{fk.parent.name} refers to {fk.column.table.name}: list it in privacy.PERSONAL[{name!r}]")


def person(app: Flask, client, session: Session, send, payload, articles, email: str) -> Contact:
    """Someone who read two articles on two devices and filled a form."""
    other_device = app.test_client()
    send(payload(articles[0]), via=client)
    send(payload(articles[1]), via=other_device)
    contact = Contact(email=email, custom={"sector": "retail"})
    session.add(contact)
    session.flush()
    for c in (client, other_device):
        vid = c.get_cookie("cabos_vid").value.split(".")[0]
        identify(session, vid, contact, "form")
    session.commit()
    return contact


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


def test_export_holds_everything_and_erase_removes_it_but_the_hash(app, client, session: Session, send, payload,
                                                                  articles) -> None:
    ana = person(app, client, session, send, payload, articles, "ana@example.com")
    bob = person(app, app.test_client(), session, send, payload, articles, "bob@example.com")
    data = export(session, " Ana@Example.com ")
    assert data["found"] and data["email"] == "ana@example.com"
    tables = data["tables"]
    assert [c["email"] for c in tables["contacts"]] == ["ana@example.com"]
    assert tables["contacts"][0]["custom"] == {"sector": "retail"}
    assert len(tables["visitors"]) == 2
    assert sorted(e["type"] for e in tables["events"]) == ["merge", "merge", "reading", "reading"]
    assert tables["suppressions"] == []
    json.dumps(data)  # everything is plain JSON

    before = counts(session)
    removed = erase(session, "ana@example.com")
    session.commit()
    after = counts(session)
    assert removed["contacts"] == 1 and removed["visitors"] == 2 and removed["events"] == 4
    assert after["contacts"] == before["contacts"] - 1 and after["visitors"] == before["visitors"] - 2
    assert session.get(Suppression, privacy.email_hash("ana@example.com")).reason == "erased"
    left = export(session, "ana@example.com")
    assert not left["found"]
    assert {k: v for k, v in left["tables"].items() if v} == {"suppressions": [
        {"email_hash": privacy.email_hash("ana@example.com"), "reason": "erased",
         "created_at": left["tables"]["suppressions"][0]["created_at"]}]}
    # Nobody else lost anything.
    assert session.get(Contact, bob.id) is not None
    assert session.scalar(select(func.count()).select_from(Event).where(Event.contact_id == bob.id)) == 4
    again = erase(session, "ana@example.com")  # again: nothing left, still fine
    session.commit()
    assert set(again.values()) <= {0}
    assert session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_the_commands(app, client, runner, session: Session, send, payload, articles, tmp_path) -> None:
    person(app, client, session, send, payload, articles, "ana@example.com")
    out = tmp_path / "ana.json"
    result = runner.invoke(args=["contacts", "export", "ana@example.com", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["tables"]["contacts"][0]["email"] == "ana@example.com"
    result = runner.invoke(args=["contacts", "erase", "ana@example.com"], input="n\n")
    assert result.exit_code == 1 and session.scalar(select(func.count()).select_from(Contact)) == 1
    result = runner.invoke(args=["contacts", "erase", "ana@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert "erased 7 rows (contacts: 1, events: 4, visitors: 2)" in result.output and "suppressed" in result.output
    result = runner.invoke(args=["contacts", "export", "ana@example.com"])
    assert result.exit_code == 1 and "no contact" in result.output
    session.expire_all()
    assert session.scalars(select(Visitor)).all() == []


def test_email_hash_is_of_the_normalised_address() -> None:
    assert privacy.email_hash(" ANA@example.com") == privacy.email_hash("ana@example.com")
    assert len(privacy.email_hash("ana@example.com")) == 64


@pytest.mark.parametrize("name", sorted(privacy.NOT_PERSONAL))
def test_a_not_personal_description_names_exactly_the_columns_of_its_table(name: str) -> None:
    # Written against the model, so a new or renamed column makes someone re-read the claim.
    named: set[str] = set()
    for word in re.findall(r"`([^`]+)`", privacy.NOT_PERSONAL[name]):
        span = re.fullmatch(r"([a-z_]+?)(\d+)…\1(\d+)", word)  # `b0…b35`: a run of numbered columns
        named |= {f"{span[1]}{i}" for i in range(int(span[2]), int(span[3]) + 1)} if span else {word}
    columns = set(metadata.tables[name].c.keys())
    assert named == columns, f"{name}: not described {sorted(columns - named)}, not columns {sorted(named - columns)}"
