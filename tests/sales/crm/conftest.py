"""A CRM fake per test, the demo content with a crm.yml naming it, and connectors without request spacing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cabos.sales.crm.base import Connector, Http
from cabos.sales.crm.salesforce import Salesforce
from tests.conftest import DEMO_CONTENT
from tests.sales.crm.fakes import FAKES, FakeCrm

LOST = "[Precio, Eligió a la competencia, Sin decisión]"
CRM_YML = {
    "hubspot": """\
hubspot:
  pipeline: Sales Pipeline
  stage: {stage}
  contact_fields: {{jobtitle: role, country: country}}
  lost_reasons: {{"Too expensive": Precio}}
  default_lost_reason: Sin decisión
""",
    "pipedrive": """\
pipedrive:
  pipeline: Ventas
  stage: {stage}
  contact_fields: {{job_title: role}}
  lost_reasons: {{"Too expensive": Precio}}
  default_lost_reason: Sin decisión
""",
    "salesforce": """\
salesforce:
  person: Contact
  stage: {stage}
  contact_fields: {{Title: role}}
  lost_reasons: {{"Closed Lost": Precio}}
""",
}
STAGE = {"hubspot": "appointmentscheduled", "pipedrive": "Cualificado", "salesforce": "Prospecting"}


def write_crm_yml(root: Path, name: str, stage: str | None = None, extra: str = "") -> None:
    (root / "crm.yml").write_text(CRM_YML[name].format(stage=stage or STAGE[name]) + extra, encoding="utf-8")


@pytest.fixture(params=["hubspot", "pipedrive", "salesforce"])
def crm_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(crm_name: str) -> Iterator[FakeCrm]:
    server = FAKES[crm_name]()
    yield server
    server.close()


@pytest.fixture
def crm_stage(crm_name: str) -> str:
    """The stage crm.yml names; override to name one the CRM does not have."""
    return STAGE[crm_name]


@pytest.fixture
def content_dir(tmp_path: Path, crm_name: str, crm_stage: str) -> Path:
    root = tmp_path / "content"
    shutil.copytree(DEMO_CONTENT, root)
    with (root / "site.yml").open("a", encoding="utf-8") as fh:
        fh.write(f"\nsales:\n  reasons:\n    lost: {LOST}\n")
    write_crm_yml(root, crm_name, crm_stage)
    return root


@pytest.fixture
def app_config(fake: FakeCrm) -> dict[str, Any]:
    return {**fake.config(), "SALES_WEBHOOK_MAX_ATTEMPTS": 3, "CRM_TIMEOUT": 5}


@pytest.fixture(autouse=True)
def _no_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests do not wait between requests (the spacing is the CRM's documented pace, not behaviour)."""
    monkeypatch.setattr(Http, "_pace", lambda self: None)
    monkeypatch.setattr(Salesforce, "_tokens", {})
    for cls in Connector.__subclasses__():
        monkeypatch.setattr(cls, "min_interval", 0.0)
