"""Where people came from, in what they brought: visitors, engaged readers, contacts, purchase mode,
handoffs and revenue won, by source / medium / campaign, by first touch and by last touch.

A *touch* (``cabos.tracking.touches``) is stored on each visitor and contact: the first, and the
latest that named a campaign or came from another site. A visitor counts under their own touch, a
contact (and what they did: purchase mode, handoffs, wins) under the contact's. The figures of a
period are the people who did that thing in the period, grouped by their touch as it stands now.

Sources are normalised so one channel is one row: ``linkedin``, ``www.linkedin.com`` and ``lnkd.in``
are ``linkedin``; ``www.google.com``, ``google.es`` and ``www.google.co.uk`` are ``google``. Without
UTM tags the medium is inferred from the referring site as analytics tools do: ``organic`` from a search engine, ``social``
from a social network, ``referral`` from any other site, ``(none)`` when typed in or bookmarked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.dashboard.metrics import Win, main_currency
from cabos.dashboard.period import Period
from cabos.dashboard.readers import ENGAGED_MS
from cabos.intent.models import IntentChange
from cabos.sales.models import Handoff
from cabos.tracking.models import Event, Visitor
from cabos.tracking.touches import channel

METRICS = ("visitors", "engaged", "contacts", "purchase", "handoffs", "won")


@dataclass
class CampaignRow:
    source: str
    medium: str
    campaign: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    revenue_cents: int = 0


@dataclass(frozen=True)
class Campaigns:
    currency: str
    first: tuple[CampaignRow, ...]  # by first touch, most revenue first
    last: tuple[CampaignRow, ...]  # by last touch


def _ordered(rows: Iterable[CampaignRow]) -> tuple[CampaignRow, ...]:
    return tuple(sorted(rows, key=lambda r: (-r.revenue_cents, -r.counts["contacts"], -r.counts["visitors"],
                                             r.source, r.medium, r.campaign)))


def _within(column: Any, period: Period) -> Any:
    return and_(column >= period.start_at, column < period.end_at)


def campaigns(session: Session, period: Period, won: list[Win]) -> Campaigns:
    """The campaigns table of ``period``, by first and by last touch."""
    conn = session.connection()
    tables: dict[str, dict[tuple[str, str, str], CampaignRow]] = {"first": {}, "last": {}}

    def add(first: Mapping[str, Any] | None, last: Mapping[str, Any] | None, metric: str, n: int = 1,
            cents: int = 0) -> None:
        for which, touch in (("first", first), ("last", last or first)):
            key = channel(touch)
            row = tables[which].get(key)
            if row is None:
                row = tables[which][key] = CampaignRow(*key)
            row.counts[metric] += n
            row.revenue_cents += cents

    readings = and_(Event.type == "reading", _within(Event.occurred_at, period), Event.visitor_id.is_not(None))
    for metric, condition in (("visitors", readings), ("engaged", and_(readings, Event.engaged_ms >= ENGAGED_MS))):
        readers = select(Event.visitor_id).where(condition).distinct()
        for first, last in conn.execute(select(Visitor.first_touch, Visitor.latest_touch)
                                        .where(Visitor.id.in_(readers))):
            add(first, last, metric)

    def by_contact(metric: str, ids: Any) -> None:
        for first, last in conn.execute(select(Contact.first_touch, Contact.latest_touch).where(Contact.id.in_(ids))):
            add(first, last, metric)

    by_contact("contacts", select(Contact.id).where(_within(Contact.created_at, period)))
    by_contact("purchase", select(IntentChange.contact_id).where(
        IntentChange.kind == "mode", IntentChange.to_value == "purchase",
        _within(IntentChange.occurred_at, period)).distinct())
    by_contact("handoffs", select(Handoff.contact_id).where(_within(Handoff.created_at, period)).distinct())

    currency = main_currency(won)
    deals = [w for w in won if w.currency == currency]
    touches = dict((cid, (f, la)) for cid, f, la in conn.execute(
        select(Contact.id, Contact.first_touch, Contact.latest_touch)
        .where(Contact.id.in_(sorted({w.contact_id for w in deals}))))) if deals else {}
    counted: set[int] = set()
    for w in deals:
        first, last = touches.get(w.contact_id, (None, None))
        add(first, last, "won", 0 if w.contact_id in counted else 1, w.revenue_cents)
        counted.add(w.contact_id)
    return Campaigns(currency, _ordered(tables["first"].values()), _ordered(tables["last"].values()))


def totals(rows: Iterable[CampaignRow]) -> CampaignRow:
    """The sum of a table's rows (each person is in exactly one row of a table)."""
    total = CampaignRow("", "", "")
    for r in rows:
        for k in METRICS:
            total.counts[k] += r.counts[k]
        total.revenue_cents += r.revenue_cents
    return total
