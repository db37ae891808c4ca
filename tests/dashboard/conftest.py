"""A small library and a known history, arranged row by row, whose every dashboard number is worked out below.

The period is March 2026. Times are UTC. The numbers the tests expect are derived in
the comments next to each row, so a reader can check them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.intent.models import IntentChange
from cabos.sales.models import Handoff, HandoffOutcome
from cabos.tracking.models import Event, Visitor

PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}
NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)

LIBRARY = {
    "articles/a1.md": "---\ntitle: Alpha article\nproblems: [slow-orders]\nstage: learn\nauthor: Ana\n"
                      "date: 2026-01-01\nsummary: A.\n---\nBody.\n",
    "articles/a2.md": "---\ntitle: Beta article\nproblems: [slow-orders, bad-stock]\nstage: compare\nauthor: Ana\n"
                      "date: 2026-01-02\nsummary: B.\n---\nBody.\n",
    "articles/a3.md": "---\ntitle: Gamma article\nproblems: [bad-stock]\nstage: decide\nauthor: Bea\n"
                      "date: 2026-01-03\nsummary: C.\n---\nBody.\n",
    "guides/g1.md": "---\ntitle: Stock guide\nproblems: [bad-stock]\nstage: learn\nauthor: Bea\n"
                    "date: 2026-01-04\nsummary: G.\n---\n## One\n\nBody.\n",
}


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    return make_content(LIBRARY)


@dataclass
class History:
    contacts: dict[str, int]
    staff: dict[str, int]
    handoffs: dict[str, int]


def reading(visitor: str | None, contact: int | None, slug: str, when: datetime, seconds: float,
            end: bool = False, kind: str = "article", problems: list[str] | None = None) -> Event:
    tags = {"a1": ["slow-orders"], "a2": ["slow-orders", "bad-stock"], "a3": ["bad-stock"], "g1": ["bad-stock"]}
    return Event(type="reading", occurred_at=when, visitor_id=visitor, contact_id=contact, content_kind=kind,
                 content_slug=slug, stage="learn", problems=problems if problems is not None else tags.get(slug, []),
                 engaged_ms=int(seconds * 1000), scroll_pct=100 if end else 40, read_to_end=end,
                 view_id=f"{visitor}-{slug}-{when.isoformat()}")


def arrange(session: Session, make_staff: Any) -> History:
    """The March 2026 history (see the module docstring of test_metrics.py for the expected figures)."""
    sara = make_staff("sales", name="Sara")
    tomas = make_staff("sales", name="Tomás")
    idle = make_staff("sales", name="Ilse")
    c1 = Contact(email="c1@example.com", name="C One", created_at=at(4, 10), first_touch={"source": "newsletter"})
    c2 = Contact(email="c2@example.com", name="C Two", created_at=at(6, 12), first_touch={"source": "google"})
    c3 = Contact(email="c3@example.com", name="C Three", created_at=at(15, 9, month=2), first_touch={"source": "direct"})
    c4 = Contact(email="c4@example.com", name="C Four", created_at=at(20, 9))
    session.add_all([c1, c2, c3, c4])
    session.flush()
    for vid, contact in (("v1", c1.id), ("v2", None), ("v3", c2.id), ("v4", None), ("v5", None), ("v6", c3.id)):
        session.add(Visitor(id=vid, contact_id=contact, created_at=at(1, month=2), last_seen_at=at(1, month=2)))
    session.flush()
    session.add_all([
        # Visitors in March: v1, v2, v3, v4, v6 = 5. Engaged (>= 30 s) in March: v1, v3, v6 = 3.
        reading("v1", c1.id, "a1", at(2, 9), 45),      # c1 before identifying: engaged
        reading("v1", c1.id, "a2", at(10, 9), 10),     # c1 after identifying
        reading("v2", None, "a1", at(3, 9), 5),
        reading("v2", None, "a1", at(20, 9, month=2), 60),  # February: v2 is not an engaged reader of March
        reading("v3", c2.id, "a3", at(5, 8), 120, end=True),  # c2 before identifying: engaged
        reading("v4", None, "a2", at(5, 10), 0),
        reading("v5", None, "a1", at(2, 9, month=4), 90),   # April: outside the period
        # c3's trail: a1 in February, g1 download, an email click, then a2 (no attention) and a3 in March.
        reading("v6", c3.id, "a1", at(10, 9, month=2), 30),
        Event(type="download", occurred_at=at(15, 9, month=2), contact_id=c3.id, content_kind="guide",
              content_slug="g1", problems=["bad-stock"]),
        Event(type="email_click", occurred_at=at(25, 9, month=2), contact_id=c3.id, problems=[],
              data={"sequence": "seq-x", "step": "s1"}),
        reading("v6", c3.id, "a2", at(1, 12), 0),
        reading("v6", c3.id, "a3", at(3, 10), 200),
        # c2 identifies through g1's form on 6 March at 12:00 and downloads it at once.
        Event(type="form_submit", occurred_at=at(6, 12), contact_id=c2.id, visitor_id="v3", content_kind="guide",
              content_slug="g1", problems=["bad-stock"]),
        Event(type="download", occurred_at=at(6, 12), contact_id=c2.id, content_kind="guide", content_slug="g1",
              problems=["bad-stock"]),
    ])
    # Purchase mode: c1 on 12 March (8 days after identifying), c3 on 1 March (14 days); c2 in February.
    for contact, when in ((c1.id, at(12, 10)), (c3.id, at(1, 9)), (c2.id, at(28, 0, month=2))):
        session.add(IntentChange(contact_id=contact, occurred_at=when, kind="mode", from_value="information",
                                 to_value="purchase", cause="activity"))
    session.add(IntentChange(contact_id=c1.id, occurred_at=at(12, 10), kind="grade", from_value="B", to_value="A",
                             cause="activity"))
    h1 = Handoff(contact_id=c1.id, assigned_to=sara.id, created_at=at(12, 12), due_at=at(13, 12),
                 first_response_at=at(12, 14), status="won", top_problem="slow-orders")
    h2 = Handoff(contact_id=c3.id, assigned_to=sara.id, created_at=at(2, 9), due_at=at(3, 9),
                 first_response_at=at(4, 9), status="won", top_problem="bad-stock")
    h3 = Handoff(contact_id=c2.id, assigned_to=tomas.id, created_at=at(3, 0), due_at=at(4, 0),
                 first_response_at=at(3, 6), status="sent_back", top_problem="bad-stock")
    session.add_all([h1, h2, h3])
    session.flush()
    session.add_all([
        HandoffOutcome(handoff_id=h2.id, contact_id=c3.id, staff_user_id=sara.id, kind="accepted", occurred_at=at(4, 9)),
        HandoffOutcome(handoff_id=h2.id, contact_id=c3.id, staff_user_id=sara.id, kind="won", occurred_at=at(20, 9),
                       revenue_cents=1_000_000, currency="EUR"),
        HandoffOutcome(handoff_id=h1.id, contact_id=c1.id, staff_user_id=sara.id, kind="accepted", occurred_at=at(13, 12)),
        HandoffOutcome(handoff_id=h1.id, contact_id=c1.id, staff_user_id=sara.id, kind="won", occurred_at=at(25, 12),
                       revenue_cents=300_000, currency="EUR"),
        HandoffOutcome(handoff_id=h3.id, contact_id=c2.id, staff_user_id=tomas.id, kind="sent_back",
                       reason="not ready", occurred_at=at(5, 10)),
    ])
    session.commit()
    return History({"c1": c1.id, "c2": c2.id, "c3": c3.id, "c4": c4.id},
                   {"sara": sara.id, "tomas": tomas.id, "ilse": idle.id},
                   {"h1": h1.id, "h2": h2.id, "h3": h3.id})


@pytest.fixture(scope="session")
def shared_pdf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One guide-PDF cache for the tests that run the demo (rendering a guide takes seconds)."""
    return tmp_path_factory.mktemp("pdf-cache")


@pytest.fixture
def library(app):  # type: ignore[no-untyped-def]
    """The content library the app serves."""
    return app.extensions["cabos.content"].current()


@pytest.fixture
def history(session: Session, make_staff: Any) -> History:
    return arrange(session, make_staff)
