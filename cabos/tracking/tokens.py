"""The signed page token and the page-view id: our implementation of a "signed view id".

Article pages are the same for every visitor (ETag/304, a shared page cache), so the page
cannot carry a per-visitor id. It carries a *page token* instead: the content's kind and
slug, signed with its own salt and stamped with the start of the current token period, so
it is identical for everyone within a period and cacheable. The tracker adds a random
128-bit nonce per page load; the server accepts a payload only with a token it signed that
is younger than ``TRACKING_VIEW_TOKEN_MAX_AGE``, and keys the reading by
``view_id(kind, slug, nonce, visitor)``: repeated sends of one page view update one reading,
and nobody can write into a page view of another visitor.

The period is half the accepted age, so a page is good for at least that long after it was
rendered. A page held longer (a tab left open for weeks) is dropped as ``unknown_view``.
"""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner

from cabos.content import Document

SALT = "cabos.page-token"


class _PeriodSigner(TimestampSigner):
    """Stamps the start of the current period instead of the current second."""

    def __init__(self, secret: str | bytes, period: int) -> None:
        super().__init__(secret, salt=SALT)
        self.period = max(1, period)

    def get_timestamp(self) -> int:
        now = int(time.time())
        return now - now % self.period


def _signer() -> _PeriodSigner:
    return _PeriodSigner(current_app.secret_key, current_app.config["TRACKING_VIEW_TOKEN_MAX_AGE"] // 2)  # type: ignore[arg-type]


def page_token(kind: str, slug: str) -> str:
    return _signer().sign(f"{kind}:{slug}").decode()


def view_token(doc: Document) -> str:
    """The page token of ``doc`` (a template global: ``data-view="{{ view_token(doc) }}"``)."""
    return page_token(doc.kind, doc.slug)


def token_epoch() -> int:
    """Changes when page tokens do: part of any cache key of pages that embed one."""
    return _signer().get_timestamp()


@lru_cache(maxsize=4096)
def _unsign(secret: str, token: str) -> tuple[str, str, float] | None:
    # A few tokens per article and period arrive over and over: check each signature once.
    # A plain TimestampSigner: the age must be measured against the real clock, not the period.
    try:
        value, stamp = TimestampSigner(secret, salt=SALT).unsign(token, return_timestamp=True)
    except (BadSignature, ValueError):
        return None
    kind, _, slug = value.decode("utf-8", "replace").partition(":")
    return (kind, slug, stamp.timestamp()) if kind and slug else None


def verify_page_token(token: str) -> tuple[str, str] | None:
    """(kind, slug) if we signed ``token`` and it is not too old, else None."""
    signed = _unsign(current_app.secret_key, token)  # type: ignore[arg-type]
    if signed is None:
        return None
    kind, slug, stamp = signed
    age = time.time() - stamp
    if not 0 <= age <= current_app.config["TRACKING_VIEW_TOKEN_MAX_AGE"]:
        return None
    return kind, slug


def view_id(kind: str, slug: str, nonce: str, visitor_id: str) -> str:
    """The key of one reading: one page load (nonce) of one content by one visitor."""
    # 128 bits of SHA-256 are plenty to be unique, and a short key keeps the unique index small.
    return hashlib.sha256(f"{kind}:{slug}:{nonce}:{visitor_id}".encode()).hexdigest()[:32]
