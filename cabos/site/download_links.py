"""Signed, expiring download links: one contact, one guide, a few days.

The token carries the contact id, a short hash of the contact's address and
the guide's slug, signed with SECRET_KEY under a salt used for nothing else.
The address hash means a link dies with the contact it was made for: an
erased contact whose id is reused by a newcomer does not pass its links on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from cabos.contacts.download_log import email_hash

SALT = "cabos.guide-download"
# itsdangerous' URL-safe tokens use only these; anything else was never ours.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-.]{1,512}$")


class LinkError(Exception):
    """The link cannot be used: ``expired`` tells a stale link from a forged or broken one."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Grant:
    contact_id: int
    email_hash: str
    guide: str

    def matches(self, email: str) -> bool:
        return self.email_hash == email_hash(email)


@lru_cache(maxsize=8)  # building one derives keys: once per secret, not per download
def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, contact_id: int, email: str, guide: str) -> str:
    """A token that lets this contact download this guide."""
    return _serializer(secret).dumps({"c": contact_id, "e": email_hash(email), "g": guide})


def is_token_shaped(token: str) -> bool:
    return bool(TOKEN_SHAPE.match(token))


def read_token(secret: str, token: str, guide: str, max_age: int) -> Grant:
    """The grant in ``token`` for ``guide``; ``LinkError`` if forged, broken, expired or for another guide."""
    if not is_token_shaped(token):
        raise LinkError("malformed token")
    try:
        payload = _serializer(secret).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkError("expired", expired=True) from exc
    except (BadSignature, ValueError, TypeError) as exc:
        raise LinkError("bad signature") from exc
    if not (isinstance(payload, dict) and isinstance(payload.get("c"), int)
            and isinstance(payload.get("e"), str) and isinstance(payload.get("g"), str)):
        raise LinkError("unexpected payload")
    if payload["g"] != guide:
        raise LinkError("token for another guide")
    return Grant(payload["c"], payload["e"], payload["g"])
