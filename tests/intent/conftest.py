"""Synthetic journeys on the demo content: readings built from real articles, at fixed times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content.library import Library
from cabos.content.loader import load_library
from cabos.intent.rules import Rules, rules_of
from cabos.intent.rulesfile import RulesExtension
from cabos.intent.scoring import Reading
from cabos.tracking.models import Event, Visitor

DEMO = Path(__file__).resolve().parents[2] / "content"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

# Demo content used by the journeys (problem: inventario-descuadrado).
LEARN = ["por-que-no-cuadra-el-inventario", "como-calcular-la-exactitud-del-inventario",
         "recuento-ciclico-paso-a-paso", "stock-sin-movimiento", "sincronizar-stock-entre-canales"]
COMPARE = "inventario-anual-vs-recuento-ciclico"
DECIDE = ["caso-electrolevante-exactitud-inventario", "como-evaluar-y-elegir-un-sga"]

HEAD_OF_OPS = {"email": "ana@almacenes-ruiz.es", "role": "Head of Operations", "company_size": "120",
               "country": "España", "sector": "Distribución", "email_domain": "almacenes-ruiz.es"}
STUDENT = {"email": "pepe@gmail.com", "role": "Estudiante", "company_size": "1-9", "country": "España",
           "email_domain": "gmail.com"}


@pytest.fixture(autouse=True)
def _app_context(request: pytest.FixtureRequest) -> Iterator[None]:
    """Database tests run where the edges run them: inside the app (receivers of intent_changed need it)."""
    if "session" not in request.fixturenames:
        yield
        return
    with request.getfixturevalue("app").app_context():
        yield


@pytest.fixture(scope="session")
def demo_library() -> Library:
    return load_library(DEMO, [RulesExtension()])


@pytest.fixture(scope="session")
def demo_rules(demo_library: Library) -> Rules:
    return rules_of(demo_library)


class Journey:
    """Builds readings of demo content: journey.read('slug', days_ago=2, seconds=240)."""

    def __init__(self, library: Library, now: datetime = NOW) -> None:
        self.library = library
        self.now = now
        self.readings: list[Reading] = []
        self._ids = 0

    def read(self, slug: str, days_ago: float = 0.0, seconds: float = 240, kind: str = "article",
             type: str = "reading") -> Reading:
        doc = self.library.document(kind, slug)  # type: ignore[arg-type]
        assert doc is not None, f"no {kind} {slug} in the demo content"
        self._ids += 1
        reading = Reading(self.now - timedelta(days=days_ago), kind, slug, doc.stage, tuple(doc.problems),
                          int(seconds * 1000), 100 if seconds >= 120 else 30, seconds >= 120, type, self._ids)
        self.readings.append(reading)
        return reading

    def visit(self, page: str, days_ago: float = 0.0, seconds: float = 30) -> Reading:
        return self.read(page, days_ago, seconds, kind="page")


@pytest.fixture
def journey(demo_library: Library) -> Journey:
    return Journey(demo_library)


# --- the same journeys in the database -------------------------------------------------------


def add_contact(session: Session, **fields: Any) -> Contact:
    custom = {k: fields.pop(k) for k in list(fields) if k not in
              ("email", "name", "company", "role", "company_size", "country")}
    fields.pop("email_domain", None)
    contact = Contact(**fields, custom=custom)
    session.add(contact)
    session.flush()
    return contact


def add_events(session: Session, readings: list[Reading], contact_id: int | None = None,
               visitor_id: str | None = None) -> list[Event]:
    events = [Event(type=r.type, occurred_at=r.occurred_at, contact_id=contact_id, visitor_id=visitor_id,
                    content_kind=r.content_kind, content_slug=r.content_slug, stage=r.stage,
                    problems=list(r.problems), engaged_ms=r.engaged_ms, scroll_pct=r.scroll_pct,
                    read_to_end=r.read_to_end) for r in readings]
    session.add_all(events)
    session.flush()
    return events


def add_visitor(session: Session, visitor_id: str, contact_id: int | None = None) -> Visitor:
    visitor = Visitor(id=visitor_id, contact_id=contact_id, created_at=NOW - timedelta(days=30),
                      last_seen_at=NOW)
    session.add(visitor)
    session.flush()
    return visitor
