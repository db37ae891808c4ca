"""Signed tokens for the links in nurture emails: click tracking and unsubscribe.

Both are itsdangerous tokens signed with SECRET_KEY, each under its own salt,
so one can never be used as the other (or as a download link). They name an
outbox row (a click token may name a broadcast send instead), never an email address. The unsubscribe token also carries a short
hash of the address it was sent to: an erased contact whose id is reused by a
newcomer does not pass the link on.

A click redirect goes only to our own site, or to a target written in that
email's content: a token made with a leaked or old key still cannot send
readers anywhere else (no open redirect).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CLICK_SALT = "cabos.nurture.click"
UNSUBSCRIBE_SALT = "cabos.nurture.unsubscribe"
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-.]{1,2048}$")


class TokenError(Exception):
    """A token that is forged, broken or not ours."""


def address_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def _load(secret: str, salt: str, token: str, max_age: int) -> tuple[object, bool]:
    """The payload and whether it is still fresh; TokenError if the signature does not verify."""
    if not TOKEN_SHAPE.match(token or ""):
        raise TokenError("malformed token")
    serializer = _serializer(secret, salt)
    try:
        return serializer.loads(token, max_age=max_age), True
    except SignatureExpired as exc:
        # Signed by us, only old: the caller decides what an old link may still do.
        return serializer.load_payload(exc.payload), False  # type: ignore[arg-type]
    except BadSignature:
        raise TokenError("bad signature") from None


BROADCAST = "b"  # a click token's third item: the id is a broadcast send's, not an outbox row's


@dataclass(frozen=True)
class Click:
    outbox_id: int  # or a broadcast send's id (``broadcast``)
    url: str
    fresh: bool
    broadcast: bool = False


def click_token(secret: str, outbox_id: int, url: str, broadcast: bool = False) -> str:
    return _serializer(secret, CLICK_SALT).dumps([outbox_id, url, BROADCAST] if broadcast else [outbox_id, url])


def read_click(secret: str, token: str, max_age: int) -> Click:
    payload, fresh = _load(secret, CLICK_SALT, token, max_age)
    if not (isinstance(payload, list) and len(payload) in (2, 3) and isinstance(payload[0], int)
            and isinstance(payload[1], str) and (len(payload) == 2 or payload[2] == BROADCAST)):
        raise TokenError("not a click token")
    return Click(payload[0], payload[1], fresh, len(payload) == 3)


@dataclass(frozen=True)
class Unsubscribe:
    outbox_id: int
    contact_id: int
    address: str  # address_hash of the recipient
    fresh: bool

    def matches(self, email: str) -> bool:
        return self.address == address_hash(email)


def unsubscribe_token(secret: str, outbox_id: int, contact_id: int, email: str) -> str:
    return _serializer(secret, UNSUBSCRIBE_SALT).dumps({"o": outbox_id, "c": contact_id, "e": address_hash(email)})


def read_unsubscribe(secret: str, token: str, max_age: int) -> Unsubscribe:
    payload, fresh = _load(secret, UNSUBSCRIBE_SALT, token, max_age)
    if not (isinstance(payload, dict) and isinstance(payload.get("o"), int) and isinstance(payload.get("c"), int)
            and isinstance(payload.get("e"), str)):
        raise TokenError("not an unsubscribe token")
    return Unsubscribe(payload["o"], payload["c"], payload["e"], fresh)


def same_site(url: str, base_url: str) -> bool:
    """``url`` is on our public site: same scheme family and exactly the same host and port."""
    try:
        target, base = urlsplit(url), urlsplit(base_url)
    except ValueError:
        return False
    return (target.scheme in ("http", "https") and target.scheme == base.scheme
            and target.netloc.lower() == base.netloc.lower() and "\\" not in url)


def allowed_target(url: str, base_url: str, written: Iterable[str]) -> bool:
    """Our own site, or exactly one of the targets written in the email."""
    return same_site(url, base_url) or url in set(written)
