"""Sign-in throttling that slows the attacker, not the account's owner.

A fixed per-account limit let a stranger lock anyone out: ten wrong passwords for an address,
from anywhere, and the right password answered 429 for an hour. Instead:

- per source (the client address): Flask-Limiter's STAFF_LOGIN_RATE_LIMIT on failed posts, and
  growing delays per source *and* account: after STAFF_LOGIN_FREE_FAILURES failures from one
  address for one account, the next try from there must wait 1 s, 2 s, 4 s … up to
  STAFF_LOGIN_MAX_DELAY (the password is not even checked while it waits);
- per account: past STAFF_LOGIN_ALERT_AFTER failures within an hour (from anywhere) the account
  gets growing delays too, but only for sources that have failed themselves: a sign-in from a
  *known device* (a signed cookie this browser got at its last successful sign-in for that
  account) or from a *fresh source* (an address with no recent failures) still works;
- at STAFF_LOGIN_ALERT_AFTER failures the account's owner and the admins are told by email
  (queued, sent by the worker: ``cabos.staff.alerts``).

Counters live in the rate-limit storage every process shares (``cabos.limits``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from flask import Flask, Request, Response, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

WINDOW = 3600  # failures are remembered for an hour
DEVICE_COOKIE = "cabos_staff_device"
DEVICE_AGE = 365 * 86400


@dataclass(frozen=True)
class Verdict:
    wait: int  # seconds before this source may try this account again; 0: go ahead
    known_device: bool


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), key=str(current_app.secret_key).encode()[:64], digest_size=12).hexdigest()


class Throttle:
    def __init__(self, app: Flask, storage: object) -> None:
        self.storage = storage
        self.app = app

    @property
    def free(self) -> int:
        return int(self.app.config["STAFF_LOGIN_FREE_FAILURES"])

    @property
    def alert_after(self) -> int:
        return int(self.app.config["STAFF_LOGIN_ALERT_AFTER"])

    @property
    def max_delay(self) -> int:
        return int(self.app.config["STAFF_LOGIN_MAX_DELAY"])

    def _get(self, key: str) -> int:
        return int(self.storage.get(f"cabos/login/{key}"))  # type: ignore[attr-defined]

    def _incr(self, key: str, expiry: int) -> int:
        return int(self.storage.incr(f"cabos/login/{key}", max(1, expiry)))  # type: ignore[attr-defined]

    def _delay(self, failures: int, free: int) -> int:
        return min(2 ** (failures - free - 1), self.max_delay) if failures > free else 0

    def _blocked(self, scope: str, failures: int) -> int:
        """Seconds left of the delay the last failure started, for ``scope`` (0 if none)."""
        if failures == 0 or self._get(f"block/{scope}/{failures}") == 0:
            return 0
        expires = self.storage.get_expiry(f"cabos/login/block/{scope}/{failures}")  # type: ignore[attr-defined]
        return max(1, int(expires - time.time() + 0.999))

    def check(self, request: Request, email: str) -> Verdict:
        """Whether this attempt may have its password checked now."""
        account, source = _digest(email), _digest(request.remote_addr or "-")
        known = known_device(request, email)
        if known:
            return Verdict(0, True)
        wait = self._blocked(f"{source}/{account}", self._get(f"fail/{source}/{account}"))
        if not wait and self._get(f"fail/{source}") > 0:  # not a fresh source: the account's delay applies
            wait = self._blocked(account, self._get(f"fail/{account}"))
        return Verdict(wait, False)

    def failed(self, request: Request, email: str) -> int:
        """Count a failed sign-in; the account's failures in the window (to decide on the alert)."""
        account, source = _digest(email), _digest(request.remote_addr or "-")
        pair = self._incr(f"fail/{source}/{account}", WINDOW)
        self._incr(f"fail/{source}", WINDOW)
        total = self._incr(f"fail/{account}", WINDOW)
        for scope, failures, free in ((f"{source}/{account}", pair, self.free), (account, total, self.alert_after)):
            delay = self._delay(failures, free)
            if delay:
                self._incr(f"block/{scope}/{failures}", delay)
        return total


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt="cabos.staff.device")


def known_device(request: Request, email: str) -> bool:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return False
    try:
        data = _device_serializer().loads(raw, max_age=DEVICE_AGE)
    except BadSignature:
        return False
    return isinstance(data, list) and _digest(email) in data


def remember_device(request: Request, response: Response, email: str) -> None:
    """After a successful sign-in: this browser is a known device for ``email`` (a few accounts at most)."""
    try:
        known = _device_serializer().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_AGE)
    except BadSignature:
        known = []
    if not isinstance(known, list):
        known = []
    accounts = [d for d in known if isinstance(d, str) and d != _digest(email)][-4:] + [_digest(email)]
    response.set_cookie(DEVICE_COOKIE, _device_serializer().dumps(accounts), max_age=DEVICE_AGE, path="/staff/login",
                        secure=request.is_secure, httponly=True, samesite="Strict")
