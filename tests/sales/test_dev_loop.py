"""`cabos serve --dev` runs the worker's ticks in a thread: a guide form's welcome email and a handoff's
alert reach the mail folder by themselves, and the demo leaves nothing old to send."""

from __future__ import annotations

import time
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from cabos.contacts import consent
from cabos.contacts.capture import Lead, capture
from cabos.content import current_library
from cabos.db import utcnow
from cabos.nurture.tick import start_in_background
from cabos.sales.models import Delivery
from cabos.site import guide_mail


def recipients(folder: Path) -> list[str]:
    return [message_from_bytes(p.read_bytes(), policy=email_policy.default)["To"].addresses[0].addr_spec
            for p in folder.glob("*.eml")]


def test_the_dev_worker_sends_the_welcome_email_and_the_handoff_alert(app: Flask, db, journey,
                                                                     tmp_path: Path) -> None:
    with app.test_request_context("/"), db.sessions() as s:
        library = current_library()
        guide = library.guides["guia-inventario-que-cuadra"]
        contact, _ = capture(s, Lead(email="luis@ferreteria.example", name="Luis", consent_text="Acepto"), guide,
                             {}, None, utcnow())
        # They clicked the confirmation link (double opt-in): the consent counts, the sequence may start.
        consent.confirm(s, contact, form="guide", content=guide.slug, text="Acepto", language="es",
                        given_at=utcnow(), now=utcnow())
        guide_mail.queue(s, contact, guide.slug, guide_mail.FORM, utcnow())
        s.commit()
    stop = start_in_background(app, interval=0.2)
    folder = tmp_path / "mail"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = recipients(folder) if folder.exists() else []
            if got.count("luis@ferreteria.example") >= 2 and "sofia@staff.example" in got:
                break
            time.sleep(0.2)
    finally:
        stop(30)
    got = recipients(folder)
    assert got.count("luis@ferreteria.example") >= 2, got  # the guide's link and the sequence's welcome
    assert got.count("sofia@staff.example") == 1, got  # the handoff, once
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "pending")) == 0
