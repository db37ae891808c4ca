"""Accounts: the company behind several contacts, matched by email domain, merged by hand.

In B2B the buyer is a group at one company. A contact whose address is at a
company domain joins that domain's account (made on first sight); an address
at a free-mail or personal domain (gmail.com, outlook.es, …) joins none until
staff place it by hand. Merging account A into B moves A's domains and people
to B (two domains of one company, or a subsidiary).

``account_fields`` is what the intent fit rules can read about a contact's
company (how many people it has here, how many of them read this week).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import session_scope, utcnow
from cabos.intent.models import IntentState
from cabos.sales.lifecycle import stages
from cabos.sales.models import Account, AccountDomain, AccountMember
from cabos.tracking.models import Event

# Addresses anyone can get: never a company. Country variants of the big providers are matched by prefix.
FREE_MAIL = frozenset("""
gmail.com googlemail.com yahoo.com ymail.com rocketmail.com hotmail.com outlook.com live.com msn.com
aol.com icloud.com me.com mac.com proton.me protonmail.com pm.me gmx.com gmx.net gmx.de web.de mail.com
zoho.com yandex.com yandex.ru mail.ru qq.com 163.com 126.com tutanota.com fastmail.com hey.com
terra.com terra.es telefonica.net movistar.es orange.fr free.fr laposte.net libero.it tiscali.it
btinternet.com uol.com.br bol.com.br prodigy.net.mx ono.com wanadoo.fr t-online.de seznam.cz
""".split())
FREE_MAIL_PREFIXES = ("hotmail.", "outlook.", "yahoo.", "live.", "gmx.", "aol.", "icloud.")
MERGE_LIMIT = 5000  # people shown and combined on one account page
# A week of the account's readings is read through each member's (contact_id, occurred_at) range:
# `type || ''` is no index term, or SQLite (no ANALYZE statistics) walks everyone's readings of the
# week through ix_events_type_time (70,000 rows at 5M events) for every account page and fit score.
_READING = (Event.type + "") == "reading"


class AccountError(ValueError):
    """The account change cannot be made; the message says why. HTTP 400."""

    code = 400


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` is a free-mail or personal provider (its people are not one company)."""
    return not domain or domain in FREE_MAIL or domain.startswith(FREE_MAIL_PREFIXES)


def account_of(session: Session, contact: Contact, now: datetime) -> Account | None:
    """The contact's account; a company address joins (or founds) its domain's account on first sight."""
    member = session.get(AccountMember, contact.id)
    if member is not None:
        return session.get(Account, member.account_id)
    domain = domain_of(contact.email)
    if is_free_mail(domain):
        return None
    owner = session.get(AccountDomain, domain)
    if owner is None:
        account = Account(name=contact.company or domain, created_at=now)
        try:
            with session.begin_nested():  # another request may found it at the same moment
                session.add(account)
                session.flush()
                session.add(AccountDomain(domain=domain, account_id=account.id, created_at=now))
                session.flush()
        except IntegrityError:
            owner = session.get(AccountDomain, domain)
            if owner is None:
                raise
        else:
            owner = session.get(AccountDomain, domain)
    assert owner is not None
    try:
        with session.begin_nested():
            session.add(AccountMember(contact_id=contact.id, account_id=owner.account_id, source="domain",
                                      created_at=now))
            session.flush()
    except IntegrityError:
        pass
    member = session.get(AccountMember, contact.id)
    return session.get(Account, member.account_id) if member is not None else None


def attach_new(session: Session, now: datetime, after_id: int, batch: int = 1000) -> tuple[int, int]:
    """Give contacts with id > ``after_id`` (and no account yet) their domain's account.

    Returns (joined, the last id looked at): the worker keeps the cursor, so each contact is looked
    at once per process, free-mail ones included (they join nothing and stay as they are).
    """
    contacts = list(session.scalars(select(Contact).where(Contact.id > after_id).order_by(Contact.id).limit(batch)))
    joined = 0
    members = set(session.scalars(select(AccountMember.contact_id).where(
        AccountMember.contact_id.in_([c.id for c in contacts])))) if contacts else set()
    for contact in contacts:
        if contact.id not in members and account_of(session, contact, now) is not None:
            joined += 1
    return joined, contacts[-1].id if contacts else after_id


def worker_job(app: Any, stop: Any) -> None:
    """The worker's job: new contacts at a company address join its account (a batch per tick)."""
    cursor = app.extensions.setdefault("cabos.sales.accounts_cursor", {"after": 0})
    with app.app_context(), session_scope(app) as session:
        _joined, cursor["after"] = attach_new(session, utcnow(), cursor["after"])


def place(session: Session, contact: Contact, account: Account, now: datetime) -> None:
    """Put a contact in ``account`` by hand (a personal address, or a correction)."""
    member = session.get(AccountMember, contact.id)
    if member is None:
        session.add(AccountMember(contact_id=contact.id, account_id=account.id, source="manual", created_at=now))
    else:
        member.account_id, member.source = account.id, "manual"
    session.flush()


def merge(session: Session, source: Account, into: Account) -> None:
    """Merge ``source`` into ``into``: its domains and people move, ``source`` is deleted."""
    if source.id == into.id:
        raise AccountError(_("An account cannot be merged into itself; choose another one."))
    session.execute(update(AccountDomain).where(AccountDomain.account_id == source.id).values(account_id=into.id)
                    .execution_options(synchronize_session=False))
    session.execute(update(AccountMember).where(AccountMember.account_id == source.id).values(account_id=into.id)
                    .execution_options(synchronize_session=False))
    session.execute(delete(Account).where(Account.id == source.id).execution_options(synchronize_session=False))
    session.expire_all()


@dataclass(frozen=True)
class Person:
    contact: Contact
    stage: str
    mode: str | None
    grade: str | None
    score: float


@dataclass(frozen=True)
class Summary:
    account: Account
    domains: list[str]
    people: list[Person]
    interest: list[tuple[str, float]]  # problem slug, combined interest, highest first
    stages: dict[str, int]
    readers_week: int  # people who read in the last 7 days
    buyers_week: int  # of them, how many read choose-stage content (compared solutions)


def summary(session: Session, account: Account, now: datetime, decide_stages: frozenset[str]) -> Summary:
    """Everyone at the account, their combined interest and stages, and what they did this week."""
    domains = list(session.scalars(select(AccountDomain.domain).where(AccountDomain.account_id == account.id)
                                   .order_by(AccountDomain.domain)))
    ids = list(session.scalars(select(AccountMember.contact_id).where(AccountMember.account_id == account.id)
                               .order_by(AccountMember.contact_id).limit(MERGE_LIMIT)))
    contacts = list(session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.name, Contact.id))) \
        if ids else []
    states = {s.contact_id: s for s in session.scalars(select(IntentState).where(IntentState.contact_id.in_(ids)))} \
        if ids else {}
    stage = stages(session, ids)
    interest: Counter[str] = Counter()
    for state in states.values():
        for slug, value in (state.interest or {}).items() if isinstance(state.interest, dict) else ():
            interest[slug] += float(value)
    people = [Person(c, stage.get(c.id, "lead"), getattr(states.get(c.id), "mode", None),
                     getattr(states.get(c.id), "grade", None), float(getattr(states.get(c.id), "score", 0) or 0))
              for c in contacts]
    week = now - timedelta(days=7)
    readers: set[int] = set()
    buyers: set[int] = set()
    if ids:
        for contact_id, stage_name in session.execute(
                select(Event.contact_id, Event.stage).where(Event.contact_id.in_(ids), _READING,
                                                            Event.occurred_at >= week).distinct()):
            readers.add(contact_id)
            if stage_name in decide_stages:
                buyers.add(contact_id)
    return Summary(account, domains, people, interest.most_common(), dict(Counter(p.stage for p in people)),
                   len(readers), len(buyers))


def search(session: Session, q: str, limit: int = 50) -> list[tuple[Account, int]]:
    """Accounts by name or domain, with their number of people, biggest first."""
    query = (select(Account, func.count(AccountMember.contact_id))
             .outerjoin(AccountMember, AccountMember.account_id == Account.id).group_by(Account.id))
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(func.lower(Account.name).like(like, escape="\\")
                            | Account.id.in_(select(AccountDomain.account_id)
                                             .where(AccountDomain.domain.like(like, escape="\\"))))
    return [(a, n) for a, n in session.execute(query.order_by(func.count(AccountMember.contact_id).desc(),
                                                              Account.id).limit(limit))]


def account_fields(session: Session, contact_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """What the intent fit rules may read about each contact's company (``intent.store.FIELD_SOURCES``).

    ``account_people``: people in the contact's account (1 without one); ``account_readers_week``: of
    them, how many read something in the last seven days (the contact included).
    """
    members = dict(session.execute(select(AccountMember.contact_id, AccountMember.account_id)
                                   .where(AccountMember.contact_id.in_(list(contact_ids)))).all())
    accounts = set(members.values())
    people: dict[int, int] = {}
    readers: dict[int, int] = {}
    if accounts:
        people = dict(session.execute(select(AccountMember.account_id, func.count())
                                      .where(AccountMember.account_id.in_(accounts))
                                      .group_by(AccountMember.account_id)).all())
        readers = dict(session.execute(
            select(AccountMember.account_id, func.count(func.distinct(Event.contact_id)))
            .join(Event, Event.contact_id == AccountMember.contact_id)
            .where(AccountMember.account_id.in_(accounts), _READING,
                   Event.occurred_at >= now - timedelta(days=7))
            .group_by(AccountMember.account_id)).all())
    out = {}
    for contact_id in contact_ids:
        account = members.get(contact_id)
        out[contact_id] = {"account_people": int(people.get(account, 1)) if account else 1,
                           "account_readers_week": int(readers.get(account, 0)) if account else 0}
    return out
