"""Stored intent: the current state of each contact or visitor, and the history of changes.

``intent_states`` holds one row per contact (or anonymous visitor): the
assessment as of ``computed_at``. Decay is applied when the row is read (see
``cabos.intent.scoring``), so the row is only rewritten when something happens.
``intent_changes`` is append-only: every change of mode or grade, with the
moment and the evidence, for the trail and for measuring how long contacts take.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow


class IntentState(Base):
    __tablename__ = "intent_states"
    __table_args__ = (Index("ix_intent_states_mode_grade", "mode", "grade"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Exactly one of the two is set: a contact's state, or an anonymous visitor's.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), unique=True)
    visitor_id: Mapped[str | None] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"), unique=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)  # as of computed_at
    mode: Mapped[str] = mapped_column(String(16), default="information")
    grade: Mapped[str | None] = mapped_column(String(1))  # None for visitors
    fit_points: Mapped[float | None] = mapped_column(Float)
    interest: Mapped[dict[str, Any]] = mapped_column(default=dict)  # problem -> value as of computed_at
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)  # items, fit matches, purchase rule
    # The moment recent purchase evidence runs out (None: there is none).
    evidence_until: Mapped[datetime | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    mode_since: Mapped[datetime] = mapped_column(default=utcnow)
    grade_since: Mapped[datetime | None]
    rules_version: Mapped[str] = mapped_column(String(16), default="")


class IntentChange(Base):
    __tablename__ = "intent_changes"
    __table_args__ = (
        Index("ix_intent_changes_contact_time", "contact_id", "occurred_at"),
        Index("ix_intent_changes_kind_time", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(8))  # 'mode' | 'grade'
    from_value: Mapped[str | None] = mapped_column(String(16))
    to_value: Mapped[str | None] = mapped_column(String(16))
    # Why now: 'activity' (a reading or form), 'decay' (time passed), 'rules' (intent.yml changed).
    cause: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
