"""The dashboard's daily rollup: reader days and content days, with no identity in them.

Rebuilt for the last days on every ``cabos dashboard refresh`` (see ``cabos.dashboard.rollup``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow


class ReaderDay(Base):
    """How many visitors read on ``day`` whose previous reading day was ``prev_day`` (``readers.FIRST``: none)."""

    __tablename__ = "dashboard_reader_days"

    chain: Mapped[str] = mapped_column(String(8), primary_key=True)  # 'all' | 'engaged'
    day: Mapped[date] = mapped_column(primary_key=True)
    prev_day: Mapped[date] = mapped_column(primary_key=True)
    visitors: Mapped[int] = mapped_column(default=0)


HISTOGRAM_BUCKETS = 36  # one per engaged-time bucket (``readers.EDGES``)


class ContentDay(Base):
    """One content on one day: readings, read to the end, downloads, and the engaged-time histogram.

    The histogram is one column per bucket (``b0`` … ``b35``: readings whose engaged time
    falls in it), so a period's histogram is a plain SUM in the database.
    """

    __table__ = Table(
        "dashboard_content_days", Base.metadata,
        Column("day", Date, primary_key=True),
        Column("content_kind", String(16), primary_key=True),
        Column("content_slug", String(200), primary_key=True),
        Column("readings", Integer, nullable=False, default=0),
        Column("read_to_end", Integer, nullable=False, default=0),
        Column("downloads", Integer, nullable=False, default=0),  # guide downloads that day
        *[Column(f"b{i}", Integer, nullable=False, default=0) for i in range(HISTOGRAM_BUCKETS)],
    )


class ContactDay(Base):
    """Contacts who reached ``measure`` on ``day`` having read something of ``key`` before.

    ``measure``: 'identified' (the day the contact was created) or 'purchase' (the day of
    their first entry into purchase mode). ``dimension``: 'content' (key 'kind:slug'),
    'problem' or 'author' (a contact counts once per problem or author), or 'all' (key '':
    every contact that reached the measure, read or not). Each contact
    reaches each measure on one day only, so the rows of any period add up.
    """

    __tablename__ = "dashboard_contact_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(220), primary_key=True)
    contacts: Mapped[int] = mapped_column(default=0)


class Refresh(Base):
    """The last day the rollup holds (``through``, included) and when it was refreshed."""

    __tablename__ = "dashboard_refresh"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    through: Mapped[date]
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
