"""`cabos demo`: history made through the app's own code paths; refuses to mix with real contacts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from cabos.contacts.models import Contact
from cabos.dashboard.models import Refresh
from cabos.intent.models import IntentState
from cabos.nurture.models import GuideMail
from cabos.sales.models import Delivery, Handoff, HandoffOutcome
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event

pytestmark = pytest.mark.slow


@pytest.fixture
def app_config(shared_pdf_cache: Path) -> dict[str, str]:
    return {"PDF_CACHE_DIR": str(shared_pdf_cache)}


@pytest.fixture
def content_dir() -> Path:
    from tests.conftest import DEMO_CONTENT

    return DEMO_CONTENT


# The history ends "now", and its days fall on the clock differently at every hour: at 60 days and
# 60 people a run at one hour closes a deal that a run at another leaves open. The seed and a fixed
# "now" make the run the same in every CI run, so what it shows is the code's doing, not the clock's.
DEMO_NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


def test_demo_fills_an_empty_database_and_then_refuses(runner, session) -> None:
    with time_machine.travel(DEMO_NOW):
        result = runner.invoke(args=["demo", "--days", "60", "--people", "60", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "Sign in at /staff/login as admin@example.com with the password: " in result.output
    password = result.output.split("with the password: ")[1].split()[0]
    assert len(password) >= 12

    def count(query):  # type: ignore[no-untyped-def]
        return session.scalar(select(func.count()).select_from(query.subquery()))

    readings = count(select(Event.id).where(Event.type == "reading", Event.view_id.is_not(None)))
    assert readings > 50  # beacons through /t/e, keyed by their page view
    assert count(select(Event.id).where(Event.type == "form_submit")) == count(select(Contact.id)) > 3
    assert count(select(Event.id).where(Event.type == "merge")) > 3  # identify stitched the readers' visitors
    assert count(select(IntentState.id).where(IntentState.contact_id.is_not(None))) > 3  # intent updated
    assert session.scalar(select(StaffUser.role).where(StaffUser.email == "admin@example.com")) == "admin"
    assert session.get(Refresh, "readers") is not None  # the dashboard's rollup is ready
    # Salespeople follow every handoff (however it was made: a rescore or a nurture tick), so the
    # shared dashboard has outcomes and revenue to show.
    statuses = [h.status for h in session.scalars(select(Handoff).order_by(Handoff.id))]
    assert statuses and "new" not in statuses[:-2], statuses
    won = list(session.scalars(select(HandoffOutcome).where(HandoffOutcome.kind == "won")))
    assert won and all(o.revenue_cents for o in won)
    printed = re.search(r"(\d+) won \(([\d,]+) EUR\)", result.output)
    assert printed is not None, result.output
    assert int(printed.group(1)) == len(won)
    assert int(printed.group(2).replace(",", "")) * 100 == sum(o.revenue_cents for o in won)
    # Nothing old left to send: a worker started afterwards (./run.sh) sends only what happens next.
    assert count(select(Delivery.id).where(Delivery.status == "pending")) == 0
    assert count(select(GuideMail.id).where(GuideMail.status == "queued")) == 0

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 1 and "already has contacts" in again.output
    quiet = runner.invoke(args=["demo", "--if-empty"])
    assert quiet.exit_code == 0 and "nothing to do" in quiet.output
