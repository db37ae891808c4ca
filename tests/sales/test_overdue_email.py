"""A handoff that goes overdue emails its salesperson once (two workers, a real SMTP server), in the site's language."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cabos.db import utcnow
from cabos.sales.alerts import OVERDUE_WINDOW, queue_overdue
from cabos.sales.models import Delivery, Handoff
from cabos.sales.webhooks import deliver_due
from tests.conftest import DEMO_CONTENT
from tests.sales.conftest import two_workers_at_once

SUBJECTS = {"es": "Vencido: Marta Ruiz sigue esperando tu primera respuesta (Almacenes Ruiz)",
            "en": "Overdue: Marta Ruiz is still waiting for your first answer (Almacenes Ruiz)"}
OPENINGS = {"es": "Marta Ruiz sigue esperando tu primera respuesta: vencía el",
            "en": "Marta Ruiz is still waiting for your first answer: it was due"}


@pytest.fixture(params=["es", "en"])
def content_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo content, as published (Spanish) or with the site switched to English."""
    if request.param == "es":
        return DEMO_CONTENT
    root = tmp_path_factory.mktemp("content-en") / "content"
    shutil.copytree(DEMO_CONTENT, root)
    site = root / "site.yml"
    site.write_text(site.read_text(encoding="utf-8").replace("language: es", "language: en"), encoding="utf-8")
    return root


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return smtp_server.settings


def language(content: Path) -> str:
    return "en" if content != DEMO_CONTENT else "es"


def make_overdue(db, journey, minutes: int = 5) -> None:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        s.get(Handoff, journey.handoff.id).due_at = utcnow() - timedelta(minutes=minutes)
        s.commit()


def test_an_overdue_handoff_emails_the_salesperson_once_with_two_workers(app: Flask, db, journey, smtp_server,
                                                                          content_dir: Path) -> None:
    deliver_due(app)  # the handoff's own email
    assert len(smtp_server.messages) == 1
    make_overdue(db, journey)
    two_workers_at_once(lambda: (queue_overdue(app), deliver_due(app)))
    assert queue_overdue(app) == 0 and deliver_due(app) == {"delivered": 0, "retry": 0, "failed": 0}
    assert len(smtp_server.messages) == 2, [m.message["Subject"] for m in smtp_server.messages]
    reminder = smtp_server.messages[1]
    lang = language(content_dir)
    assert reminder.rcpt_tos == ["sofia@staff.example"]
    assert reminder.message["Subject"].strip() == SUBJECTS[lang]  # a long subject is folded
    text = reminder.message.get_content()
    assert OPENINGS[lang] in text
    assert f"http://localhost/staff/contacts/{journey.contact.id}" in text
    with db.sessions() as s:
        rows = s.scalars(select(Delivery).where(Delivery.event == "handoff.overdue")).all()
        assert [(d.kind, d.status, d.attempts, d.target) for d in rows] == [
            ("email", "delivered", 1, str(journey.seller.id))]


@pytest.mark.parametrize("content_dir", ["es"], indirect=True)
def test_no_reminder_once_answered_nor_for_long_overdue_handoffs(app: Flask, db, journey, smtp_server) -> None:
    deliver_due(app)
    make_overdue(db, journey)
    queue_overdue(app)  # queued, then answered before the worker sends it
    with db.sessions() as s:
        s.get(Handoff, journey.handoff.id).first_response_at = utcnow()
        s.commit()
    assert deliver_due(app)["delivered"] == 1  # done, with nothing to say
    assert len(smtp_server.messages) == 1
    with db.sessions() as s:
        handoff = s.get(Handoff, journey.handoff.id)
        handoff.first_response_at, handoff.overdue_alerted_at = None, None
        handoff.due_at = utcnow() - OVERDUE_WINDOW - timedelta(hours=1)  # overdue for longer than the window
        s.commit()
    assert queue_overdue(app) == 0
