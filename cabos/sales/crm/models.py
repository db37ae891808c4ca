"""What cabos remembers about the CRMs: the records a handoff became, and how far it has read their changes.

A ``crm_links`` row is unique per handoff and CRM: it holds the ids of the
person, company, deal and note the push created or found, written as each is
made (so a retry after a failure half-way does not make them again). Deal
changes read back from the CRM find their handoff through ``deal_id``.
``crm_cursors`` holds, per CRM, the position the next poll starts from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow


class CrmLink(Base):
    __tablename__ = "crm_links"
    __table_args__ = (
        UniqueConstraint("crm", "handoff_id", name="uq_crm_links_handoff"),
        Index("ix_crm_links_deal", "crm", "deal_id"),
        Index("ix_crm_links_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    crm: Mapped[str] = mapped_column(String(32))  # 'hubspot' | 'pipedrive' | 'salesforce'
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    person_id: Mapped[str | None] = mapped_column(String(64))
    company_id: Mapped[str | None] = mapped_column(String(64))
    deal_id: Mapped[str | None] = mapped_column(String(64))
    note_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pushed_at: Mapped[datetime | None]


class CrmCursor(Base):
    __tablename__ = "crm_cursors"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[str] = mapped_column(String(64), default="")  # the CRM's own timestamp format
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
