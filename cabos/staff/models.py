"""Staff users (admin, marketer, sales) and their API tokens.

Sessions are revoked without server-side session rows: each user carries a
``session_version`` that the session cookie must match. Logging out,
resetting the password or deactivating the account bumps it, which ends
every session of that user at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow

ROLES = ("admin", "marketer", "sales")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))  # one of ROLES
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    booking_url: Mapped[str] = mapped_column(String(500), default="")  # their meeting page, offered to contacts

    # Flask-Login's user protocol; the id carries the session version so a bumped
    # version makes every older session cookie name a user that no longer loads.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.name or self.email

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"


class ApiToken(Base):
    """A bearer token for the REST API; only its SHA-256 is stored. It acts as its user."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StaffAlert(Base):
    """A security notice to a staff member and the admins (many failed sign-ins to their account),
    queued by the request and emailed by the worker (``cabos.staff.alerts``)."""

    __tablename__ = "staff_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(default=0)
