"""Visitors are cheap anonymous rows; events are the append-only trail.

A reading (one page view of one article) is an event whose depth columns
(engaged_ms, scroll_pct, read_to_end) grow while the view lasts; every other
event is written once. The trail of one person is read newest first through
the (contact_id, occurred_at) and (visitor_id, occurred_at) indexes, in pages,
never loaded whole.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow


class Visitor(Base):
    __tablename__ = "visitors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 128-bit random, hex
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    first_touch: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest_touch: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_contact_time", "contact_id", "occurred_at"),
        Index("ix_events_visitor_time", "visitor_id", "occurred_at"),
        Index("ix_events_content_time", "content_slug", "occurred_at"),
        Index("ix_events_type_time", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    visitor_id: Mapped[str | None] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # Readings: the page-view id makes repeated beacons update one row.
    view_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_kind: Mapped[str | None] = mapped_column(String(16))
    content_slug: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str | None] = mapped_column(String(32))
    problems: Mapped[list[str]] = mapped_column(default=list)
    engaged_ms: Mapped[int] = mapped_column(default=0)
    scroll_pct: Mapped[int] = mapped_column(default=0)
    read_to_end: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContentView(Base):
    """Views per content and day, counted for everyone, tracked or not: no identity here."""

    __tablename__ = "content_views"

    day: Mapped[date] = mapped_column(primary_key=True)
    content_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    content_slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    views: Mapped[int] = mapped_column(default=0)
    untracked: Mapped[int] = mapped_column(default=0)  # of which: DNT/GPC or declined


class DropCount(Base):
    """Beacons dropped per reason and day (bot, consent, unknown view, ...), for staff."""

    __tablename__ = "tracking_drops"

    day: Mapped[date] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
