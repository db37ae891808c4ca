"""crm.yml checked by `cabos check` and `cabos doctor`; refusals named by `cabos crm test`; backfill; token renewal."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select

from cabos.content.loader import load_library
from cabos.doctor import _crm as doctor_crm
from cabos.sales.crm import sync
from cabos.sales.crm.mapping import CrmExtension
from cabos.sales.models import Delivery, Handoff
from tests.conftest import MINIMAL_SITE
from tests.sales.crm.fakes import FakeCrm

BAD = """\
hubspott:
  stage: x
hubspot:
  pipeline: default
  contact_fields: {jobtitle: puesto, country: custom.pais}
  lost_reasons: {"Too expensive": Caro}
salesforce:
  pipeline: Ventas
  person: Account
  stage: Prospecting
"""


def test_crm_yml_mistakes_are_named_with_their_line(make_content) -> None:
    site = MINIMAL_SITE.format(language="en") + "sales:\n  reasons:\n    lost: [Price, No decision]\n"
    root = make_content({"site.yml": site, "crm.yml": BAD})
    library = load_library(root, [CrmExtension()])
    found = [str(i) for i in library.issues if "crm.yml" in str(i)]
    expected = [("1", "unknown CRM 'hubspott'; did you mean 'hubspot'?"),
                ("3", "hubspot needs `stage:`"),
                ("5", "'puesto' is not a cabos field"),
                ("6", "'Caro' is not a lost reason of site.yml"),
                ("8", "Salesforce has no pipelines"),
                ("9", "person must be Contact or Lead")]
    for line, words in expected:
        assert any(f":{line}" in issue and words in issue for issue in found), (line, words, found)
    assert not any("custom.pais" in i for i in found)  # custom form fields are allowed
    mappings = library.sections["crm"]
    assert sorted(mappings) == ["hubspot", "salesforce"] and mappings["hubspot"].errors  # kept, with its errors


@pytest.mark.parametrize("crm_name", ["hubspot"])
def test_doctor_names_a_missing_token_and_a_broken_mapping(app_factory, content_dir: Path) -> None:
    (finding,) = doctor_crm(app_factory(content_dir))
    assert finding.level == "problem" and "CABOS_CRM_HUBSPOT_TOKEN is not set" in finding.message
    (content_dir / "crm.yml").write_text("hubspot:\n  pipeline: default\n", encoding="utf-8")
    (finding,) = doctor_crm(app_factory(content_dir, CRM_HUBSPOT_TOKEN="t"))
    assert finding.level == "problem" and "run `cabos check`" in finding.message


@pytest.mark.parametrize("crm_name", ["hubspot"])
def test_a_field_hubspot_rejects_fails_with_its_words_and_crm_test_names_it(
        app: Flask, db, journey, fake: FakeCrm, runner, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    crm_yml = content_dir / "crm.yml"
    crm_yml.write_text(crm_yml.read_text().replace("jobtitle: role", "puesto_trabajo: role"), encoding="utf-8")
    assert app.extensions["cabos.content"].maybe_reload()
    assert sync.deliver_due(app)["failed"] == 1
    with db.sessions() as s:
        row = s.scalars(select(Delivery).where(Delivery.kind == "crm")).one()
    assert row.last_status == 400 and 'Property \\"puesto_trabajo\\" does not exist' in row.last_error
    assert "fix the mapping in content/crm.yml" in row.last_error
    result = runner.invoke(args=["crm", "test"])
    assert result.exit_code == 1 and "HubSpot contacts have no property 'puesto_trabajo'" in result.output


@pytest.mark.parametrize("crm_name", ["salesforce"])
def test_salesforce_asks_for_a_new_access_token_when_it_expires(app: Flask, journey, fake) -> None:  # type: ignore[no-untyped-def]
    assert sync.deliver_due(app)["delivered"] == 1
    fake.expire_tokens()
    fake.win(fake.records("deal")[0]["id"], "3000", "EUR")
    assert sync.poll(app, "salesforce")["won"] == 1
    assert fake.token_grants == 2


@pytest.mark.parametrize("crm_name", ["pipedrive"])
def test_crm_sync_since_backfills_handoffs_made_before_the_crm_was_named(
        app: Flask, db, journey, fake: FakeCrm, runner) -> None:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        s.execute(delete(Delivery).where(Delivery.kind == "crm"))
        s.commit()
    result = runner.invoke(args=["crm", "sync", "--since", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert "queued 1 handoff(s)" in result.output and "delivered=1" in result.output
    assert len(fake.records("deal")) == 1
    result = runner.invoke(args=["crm", "sync", "--since", "2026-01-01"])
    assert "queued 0 handoff(s)" in result.output and len(fake.records("deal")) == 1


@pytest.mark.parametrize("crm_name", ["salesforce"])
def test_salesforce_signs_in_with_the_jwt_bearer_flow(app: Flask, journey, fake, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "salesforce.key"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    fake.jwt_key = key.public_key()
    app.config.update(CRM_SALESFORCE_CLIENT_SECRET=None, CRM_SALESFORCE_PRIVATE_KEY_FILE=str(pem),
                      CRM_SALESFORCE_USERNAME="someone.else@acme.example")
    result = runner.invoke(args=["crm", "test"])
    assert result.exit_code == 1 and "user hasn't approved this consumer" in result.output
    app.config["CRM_SALESFORCE_USERNAME"] = fake.jwt_user
    assert sync.deliver_due(app)["delivered"] == 1
    assert len(fake.records("deal")) == 1 and fake.token_grants == 1


@pytest.mark.parametrize("crm_name", ["hubspot"])
def test_hubspot_contact_not_yet_in_search_is_used_through_its_409(app: Flask, journey, fake) -> None:  # type: ignore[no-untyped-def]
    with fake.lock:
        status, made, _ = fake._create("contacts", {"properties": {"email": "marta@almacenes-ruiz.es"}})
    fake.not_indexed.add(made["id"])
    assert sync.deliver_due(app)["delivered"] == 1
    assert [p["id"] for p in fake.records("person")] == [made["id"]]
    assert fake.records("deal")[0]["person"] == made["id"]


@pytest.mark.parametrize("crm_name", ["pipedrive"])
def test_the_worker_job_pushes_and_polls(app: Flask, db, journey, fake) -> None:  # type: ignore[no-untyped-def]
    job = app.extensions["cabos.worker_jobs"]["crm"]
    app.config["CRM_POLL_INTERVAL"] = 0
    job(app, lambda: False)
    (deal,) = fake.records("deal")
    fake.win(deal["id"], "4200", "EUR")
    job(app, lambda: False)
    with db.sessions() as s:
        assert s.get(Handoff, journey.handoff.id).revenue_cents == 420_000
