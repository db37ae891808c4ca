"""Create, find, authenticate and retire staff accounts (no commits: the edge decides)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.capture import normalise_email, valid_email
from cabos.db import utcnow
from cabos.staff.models import ROLES, ApiToken, StaffUser
from cabos.staff.passwords import check_policy, hash_password, needs_rehash, verify_password


class AccountError(ValueError):
    """The account change is refused; the message says why."""


def find(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def create_user(session: Session, email: str, role: str, password: str, name: str = "",
                now: datetime | None = None) -> StaffUser:
    """A new active account; the password must pass the policy."""
    email = normalise_email(email)
    if not valid_email(email):
        raise AccountError(f"{email!r} is not a valid email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if find(session, email) is not None:
        raise AccountError(f"{email} already has an account")
    check_policy(password, email)
    user = StaffUser(email=email, name=name.strip()[:200], role=role, password_hash=hash_password(password),
                     created_at=now or utcnow())
    session.add(user)
    session.flush()
    return user


def set_password(user: StaffUser, password: str) -> None:
    """Replace the password and end every session of the user."""
    check_policy(password, user.email)
    user.password_hash = hash_password(password)
    user.session_version += 1


def end_sessions(user: StaffUser) -> None:
    """Sign the user out everywhere (their session cookies stop loading)."""
    user.session_version += 1


def deactivate(session: Session, user: StaffUser, now: datetime | None = None) -> None:
    """No more sign-in, sessions or API tokens; handoffs stay as history."""
    user.active = False
    end_sessions(user)
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                        ApiToken.revoked_at.is_(None))):
        token.revoked_at = now or utcnow()


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> StaffUser | None:
    """The active user with this email and password, or None (same work either way)."""
    user = find(session, email)
    ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not ok or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now or utcnow()
    return user


def active_sales(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).where(StaffUser.role == "sales", StaffUser.active.is_(True))
                                .order_by(StaffUser.id)))


def count_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StaffUser).where(
        StaffUser.role == "admin", StaffUser.active.is_(True))) or 0
