"""Find, export and erase one person's rows, table by table, by the registry in ``privacy``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from cabos.contacts.capture import normalise_email
from cabos.contacts.models import Contact, Suppression
from cabos.contacts.signals import erasing
from cabos.contacts.privacy import CONTACT, EMAIL, EMAIL_HASH, KEPT_ON_ERASE, PERSONAL, VISITOR, email_hash
from cabos.db import utcnow
from cabos.schema import metadata
from cabos.tracking.models import Visitor


@dataclass(frozen=True)
class Subject:
    """One person as the registry's locators see them."""

    email: str
    contact_id: int | None
    visitor_ids: tuple[str, ...]

    @property
    def email_hash(self) -> str:
        return email_hash(self.email)


def subject(session: Session, email: str) -> Subject:
    """The person with this address: their contact (if any) and visitors."""
    email = normalise_email(email)
    contact_id = session.scalar(select(Contact.id).where(Contact.email == email))
    visitors: tuple[str, ...] = ()
    if contact_id is not None:
        visitors = tuple(session.scalars(select(Visitor.id).where(Visitor.contact_id == contact_id)
                                         .order_by(Visitor.id)))
    return Subject(email, contact_id, visitors)


def _match(table: Table, who: Subject) -> ColumnElement[bool] | None:
    tests: list[ColumnElement[bool]] = []
    for column, locator in PERSONAL[table.name].items():
        col = table.c[column]
        if locator == CONTACT and who.contact_id is not None:
            tests.append(col == who.contact_id)
        elif locator == VISITOR and who.visitor_ids:
            tests.append(col.in_(who.visitor_ids))
        elif locator == EMAIL:
            tests.append(col == who.email)
        elif locator == EMAIL_HASH:
            tests.append(col == who.email_hash)
    return or_(*tests) if tests else None


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def export(session: Session, email: str) -> dict[str, Any]:
    """Every row we hold about the person, table by table, as JSON-ready data."""
    who = subject(session, email)
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name not in PERSONAL or (where := _match(table, who)) is None:
            continue
        order = [c for c in table.primary_key.columns]
        rows = session.execute(select(table).where(where).order_by(*order)).mappings()
        tables[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return {"email": who.email, "exported_at": utcnow().isoformat(), "found": who.contact_id is not None,
            "tables": tables}


def erase(session: Session, email: str, reason: str = "erased") -> dict[str, int]:
    """Delete every row about the person (children first); keep a hashed suppression entry."""
    who = subject(session, email)
    erasing.send(None, session=session, contact_id=who.contact_id)
    removed: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name not in PERSONAL or table.name in KEPT_ON_ERASE or (where := _match(table, who)) is None:
            continue
        removed[table.name] = session.execute(delete(table).where(where)).rowcount or 0
    if session.get(Suppression, who.email_hash) is None:
        session.add(Suppression(email_hash=who.email_hash, reason=reason))
    session.flush()
    return removed
