"""Helpers for nurture tests: contacts, trail events, ticks, and a slow SMTP server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.intent.store import update_contact
from cabos.nurture.models import OutboxMessage
from cabos.nurture.tick import TickReport, run_tick
from cabos.tracking.models import Event



def add_contact(session: Session, email: str = "ana@example.com", name: str = "Ana López",
                company: str = "Almacenes Ana", consent: bool = True) -> Contact:
    """A contact who ticked the box to receive emails (unless ``consent=False``)."""
    contact = Contact(email=email, name=name, company=company, custom={}, first_touch={}, latest_touch={},
                      consent_at=utcnow() if consent else None,
                      consent_text="Acepto recibir correos" if consent else "")
    session.add(contact)
    session.flush()
    return contact


def guide_event(session: Session, contact: Contact, guide: str = "stock-guide",
                at: datetime | None = None, type_: str = "form_submit") -> Event:
    event = Event(type=type_, occurred_at=at or utcnow(), contact_id=contact.id, content_kind="guide",
                  content_slug=guide, stage="learn", problems=[], data={})
    session.add(event)
    session.flush()
    return event


def reading(session: Session, contact: Contact, slug: str, stage: str, problems: list[str],
            seconds: int = 200, at: datetime | None = None) -> Event:
    event = Event(type="reading", occurred_at=at or utcnow(), contact_id=contact.id, content_kind="article",
                  content_slug=slug, stage=stage, problems=problems, engaged_ms=seconds * 1000, scroll_pct=100,
                  read_to_end=True, data={})
    session.add(event)
    session.flush()
    return event


def go_purchase(app: Flask, session: Session, contact: Contact, at: datetime | None = None) -> None:
    """Read two decide-stage articles and a compare one in full: 24 points, purchase mode under the
    default rules (threshold 20, grade A) for a few days of decay."""
    at = at or utcnow()
    with app.app_context():
        for slug, stage in (("stock-case", "decide"), ("stock-choose", "decide"), ("stock-compare", "compare")):
            reading(session, contact, slug, stage, ["bad-stock"], at=at)
        update = update_contact(session, contact.id, at)
    assert update is not None and update.mode == "purchase"


def tick(app: Flask, now: datetime | None = None, send: bool = True) -> TickReport:
    with app.app_context():
        return run_tick(app, now=now, send=send)


def rows(session: Session, **where: Any) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    return list(session.scalars(query))


def later(days: float = 0, hours: float = 0, minutes: float = 1) -> datetime:
    return utcnow() + timedelta(days=days, hours=hours, minutes=minutes)


# --- an SMTP server that can be slow, and counts what it got by outbox row --------------------------------


@dataclass
class SlowSmtp:
    host: str
    port: int
    delay: float = 0.0
    # The n-th message (1-based) gets no answer until release(): "the message is with the server"
    # for as long as a test needs, however slow the machine (a delay is a bet on timing).
    hold: int | None = None
    started: list[str] = field(default_factory=list)  # outbox ids whose DATA arrived (before the delay)
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()

    def outbox_ids(self) -> list[int]:
        with self.lock:
            return [int(m["X-Cabos-Outbox"]) for m in self.messages]

    def wait_started(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.started) >= count:
                    return
            time.sleep(0.005)
        raise AssertionError(f"the server saw {len(self.started)} messages, not {count}")

    def env(self) -> dict[str, str]:
        return {"CABOS_MAIL_BACKEND": "smtp", "CABOS_MAIL_SERVER": self.host, "CABOS_MAIL_PORT": str(self.port),
                "CABOS_MAIL_TIMEOUT": "10"}

    @property
    def settings(self) -> dict[str, Any]:
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_TIMEOUT": 10}


class _Handler:
    def __init__(self, server: SlowSmtp) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=email_policy.default)
        with self.server.lock:
            self.server.started.append(str(message["X-Cabos-Outbox"]))
            # Counted as delivered once the server has the whole message, as a real MTA would.
            self.server.messages.append(message)  # type: ignore[arg-type]
            held = len(self.server.started) == self.server.hold
        while held and not self.server.released.is_set():
            await asyncio.sleep(0.01)
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        return "250 Message accepted for delivery"


@pytest.fixture
def slow_smtp() -> Iterator[SlowSmtp]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = SlowSmtp("127.0.0.1", port)
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --- a small content library of our own (the demo content may change under us) ------------------------


def _article(title: str, problems: str, stage: str, date: str) -> str:
    return (f"---\ntitle: {title}\nsummary: About {title.lower()}.\nproblems: [{problems}]\nstage: {stage}\n"
            f"date: {date}\n---\n## Part\n\nText about {title.lower()}.\n")


WELCOME = """\
---
subject: "Your stock guide, {{ first_name | 'friend' }}"
preheader: "Start with one number."
---
Hello {{ first_name | "there" }} from **{{ company }}**,

Count 50 random locations. Then read [the basics](/articles/stock-basics) or try
[the partner tool](https://partner.example/tool?ref=cabos&x=1).

- one
- two
"""

NEXT = """\
---
subject: "Next: {{ next_article.title }}"
preheader: "Picked for you."
---
Hi {{ first_name }},

Read {{ next_article }} next.

{{ next_article.summary }}
"""

CASE = """\
---
subject: "How Acme fixed their stock"
preheader: "A real case."
---
Hi {{ first_name }}, see [the case](/articles/stock-case).
"""

SEQUENCE = """\
name: Welcome to the stock guide
trigger:
  guide: stock-guide
steps:
  - email: welcome
    wait: 0
  - email: next
    wait: 3d
    when: {mode: information}
  - email: case
    wait: 7d
exit: [purchase_mode, handoff, unsubscribe]
reentry: never
"""

FILES: dict[str, str] = {
    "articles/stock-basics.md": _article("Stock basics", "bad-stock", "learn", "2026-01-10"),
    "articles/stock-count.md": _article("Stock count", "bad-stock", "learn", "2026-01-05"),
    "articles/stock-compare.md": _article("Stock compare", "bad-stock", "compare", "2026-01-04"),
    "articles/stock-case.md": _article("Stock case", "bad-stock", "decide", "2026-01-03"),
    "articles/stock-choose.md": _article("Stock choose", "bad-stock", "decide", "2026-01-02"),
    "articles/orders-basics.md": _article("Orders basics", "slow-orders", "learn", "2026-01-01"),
    "guides/stock-guide.md": ("---\ntitle: Stock guide\nsummary: The guide.\nproblems: [bad-stock]\nstage: learn\n"
                              "date: 2026-01-01\n---\n## One\n\nGuide text.\n"),
    "emails/welcome.md": WELCOME,
    "emails/next.md": NEXT,
    "emails/case.md": CASE,
    "sequences/welcome.yml": SEQUENCE,
}


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    """Nurture tests serve their own small library (English paths: /articles/…)."""
    return make_content(FILES)
