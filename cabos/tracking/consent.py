"""Who may be tracked as an individual: the site's consent mode, the visitor's choice, DNT/GPC.

site.yml's ``consent`` picks the mode:

- ``required``: nothing (no cookie, no beacon) until the visitor accepts in the banner;
- ``notice``: tracked from the first beacon; the banner informs and lets them decline;
- ``off``: no banner; tracked from the first beacon.

Whatever the mode, ``DNT: 1`` or ``Sec-GPC: 1`` (or their JavaScript equivalents, sent in
the payload) and a visitor who declined mean *aggregate* only: the view is counted for its
article, with no cookie and no personal event.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from flask import current_app, request
from werkzeug.wrappers import Request

from cabos.content import current_library

REQUIRED, NOTICE, OFF = "required", "notice", "off"
COOKIE = "cabos_consent"  # read by the tracker to show or hide the banner, so not HttpOnly
ACCEPTED, DECLINED = "yes", "no"
MAX_AGE = 395 * 24 * 3600  # 13 months, then we ask again


class Level(StrEnum):
    PERSONAL = "personal"    # a visitor cookie and events on their trail
    AGGREGATE = "aggregate"  # a view counted for the article, nothing about the person
    NONE = "none"            # nothing at all (consent required and not given)


def privacy_signal(headers: Mapping[str, str]) -> bool:
    """Do-Not-Track or Global Privacy Control is on."""
    return headers.get("DNT", "").strip() == "1" or headers.get("Sec-GPC", "").strip() == "1"


def level(mode: str, choice: str | None, signal: bool) -> Level:
    """How much of one visitor may be recorded, from the mode, their choice and their browser."""
    if mode == REQUIRED and choice != ACCEPTED:
        return Level.NONE
    if signal or choice == DECLINED:
        return Level.AGGREGATE
    return Level.PERSONAL


def cookie_name(name: str) -> str:
    """``__Host-`` prefixed behind HTTPS, like the session cookie (``site.security``)."""
    return f"__Host-{name}" if current_app.config.get("HTTPS") else name


def secure(req: Request | None = None) -> bool:
    """Cookies get Secure when the site is on HTTPS or this request came over it."""
    return bool(current_app.config.get("HTTPS")) or (req or request).is_secure


def choice(req: Request | None = None) -> str | None:
    """The visitor's recorded choice: ACCEPTED, DECLINED or None."""
    return (req or request).cookies.get(cookie_name(COOKIE))


def site_mode() -> str:
    return current_library().site.consent


def request_level(req: Request | None = None, signal: bool = False) -> Level:
    """The level for this request; ``signal`` adds a DNT/GPC flag the page reported itself."""
    req = req or request
    return level(site_mode(), choice(req), signal or privacy_signal(req.headers))
