"""Where a contact stands with sales: lead → handed off → accepted → customer, or back to nurture, or disqualified.

The stage is read from the contact's latest handoff, so it can never disagree
with the queue: no handoff is a lead; ``new`` is handed off; ``accepted``;
``won`` is a customer; ``sent_back`` and ``lost`` are back in nurture;
``disqualified``. A customer or a disqualified contact is not handed off again.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.sales.models import Handoff

STAGES = ("lead", "handed_off", "accepted", "customer", "nurture", "disqualified")
_BY_STATUS = {"new": "handed_off", "accepted": "accepted", "won": "customer", "sent_back": "nurture",
              "lost": "nurture", "disqualified": "disqualified"}
FINAL = ("customer", "disqualified")  # never handed to sales again


def stage_of(latest_status: str | None) -> str:
    """The stage a contact whose latest handoff has ``latest_status`` (None: never handed off) is at."""
    return _BY_STATUS.get(latest_status or "", "lead")


def stages(session: Session, contact_ids: Iterable[int]) -> dict[int, str]:
    """The stage of each contact (a lead when it has no handoff), in two indexed queries."""
    ids = list(set(contact_ids))
    if not ids:
        return {}
    latest = (select(Handoff.contact_id, func.max(Handoff.id).label("id")).where(Handoff.contact_id.in_(ids))
              .group_by(Handoff.contact_id).subquery())
    found = dict(session.execute(select(Handoff.contact_id, Handoff.status).join(latest, latest.c.id == Handoff.id)).all())
    return {i: stage_of(found.get(i)) for i in ids}


def may_hand_off(stage: str) -> bool:
    """Whether a contact at ``stage`` may be handed to sales (by hand or by intent)."""
    return stage not in FINAL and stage not in ("handed_off", "accepted")
