"""Everything the dashboard page shows for one period, computed once and shared by its sections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cabos.content import Library
from cabos.dashboard import attribution, campaigns, content, metrics, rollup
from cabos.dashboard.period import Period


@dataclass(frozen=True)
class Report:
    period: Period
    every: str
    funnel: metrics.Funnel
    attribution: attribution.Attribution
    content: content.ContentReport
    people: metrics.People
    series: list[metrics.Point]
    campaigns: campaigns.Campaigns


def build(session: Session, period: Period, library: Library, now: datetime, every: str = "week") -> Report:
    """Compute every section for ``period``; the trail is read once (rollup + live days)."""
    rows = rollup.load(session, period, library)
    won = metrics.wins(session, period)
    touches = attribution.trails(session, won)
    identified = rows.identified_by_day
    return Report(
        period=period,
        every=every,
        funnel=metrics.funnel(session, period, rows.readers, won=won, identified_days=identified),
        attribution=attribution.attribute(won, touches),
        content=content.report(library, rows.contents, rows.contacts, won, touches),
        people=metrics.people(session, period, now, won=won),
        series=metrics.series(session, period, every, rows.readers, won=won, identified_days=identified),
        campaigns=campaigns.campaigns(session, period, won),
    )
