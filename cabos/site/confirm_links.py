"""The signed link that confirms pending answers or a consent (see ``cabos.site.confirmations``)."""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import URLSafeTimedSerializer

from cabos.contacts.download_log import email_hash

SALT = "cabos.form-confirm"  # used for nothing else: a download link is never a confirmation


@lru_cache(maxsize=8)
def serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_confirm_token(secret: str, pending_id: int, email: str) -> str:
    """A token naming one pending row and the address it was sent to; expiry is checked when read."""
    return serializer(secret).dumps({"p": pending_id, "e": email_hash(email)})
