"""The rate-limit counters shared by every process and instance."""

from __future__ import annotations


from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base


class RateLimitCounter(Base):
    """One fixed window of one rate limit (Flask-Limiter / ``limits`` key), until ``expires_at``.

    Keys are made of a limit's scope and the client address (or a hash of a sign-in email);
    rows are deleted once expired, so nothing here outlives a window by long.
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False, index=True)  # Unix seconds
