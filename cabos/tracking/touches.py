"""Where a page view came from: UTM parameters and the outside referrer, as a *touch*.

A touch has the same shape as the lead form's (``contacts.capture``): ``source``,
``medium``, ``campaign``, ``term``, ``content``, ``referrer`` (host), ``landing`` and ``at``.
A visitor's first page view is their first touch; a later page view becomes their latest
touch only if it names a campaign or comes from another site (moving between our own
pages is not a touch). Referrers are kept as a host: paths and queries can carry personal
data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

UTM = ("source", "medium", "campaign", "term", "content")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(value: str, limit: int) -> str:
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", value)).split())[:limit]


def referrer_host(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "")[:200]
    except ValueError:
        return ""


def touch(query: str, referrer: str, landing: str, at: datetime, own_hosts: Collection[str]) -> tuple[dict[str, Any], bool]:
    """The touch of one page view, and whether it is a campaign or outside one."""
    params = {k.lower(): v for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=False)[:50]}
    out: dict[str, Any] = {k: _clean(params[f"utm_{k}"], 200) for k in UTM if params.get(f"utm_{k}")}
    host = referrer_host(referrer)
    outside = bool(host) and host not in own_hosts
    if outside:
        out["referrer"] = host
    campaign = bool(out)
    out.setdefault("source", out.get("referrer") or "direct")
    out["landing"] = landing[:300]
    out["at"] = at.isoformat()
    return out, campaign


# --- one name per channel (the campaigns report, segments) ---------------------------------------------

SEARCH = {"google", "bing", "duckduckgo", "yahoo", "ecosia", "qwant", "yandex", "baidu", "startpage", "brave"}
SOCIAL = {"linkedin", "facebook", "twitter", "instagram", "youtube", "reddit", "tiktok", "pinterest", "xing",
          "mastodon", "threads"}
# Hosts whose name is not the network's.
ALIASES = {"lnkd.in": "linkedin", "t.co": "twitter", "x.com": "twitter", "fb.com": "facebook", "fb.me": "facebook",
           "youtu.be": "youtube", "search.brave.com": "brave"}
_PREFIXES = ("www.", "m.", "l.", "lm.", "mobile.", "web.", "es.", "en.", "old.")
NONE, NOT_SET, DIRECT = "(none)", "(not set)", "(direct)"


def source_of(raw: str) -> str:
    """One name per channel: a host or a utm_source, lower case, the brand for the known ones."""
    value = (raw or "").strip().lower()
    if not value or value == "direct":
        return DIRECT
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    if value in ALIASES:
        return ALIASES[value]
    for prefix in _PREFIXES:
        if value.startswith(prefix) and value.count(".") >= 2:
            value = value[len(prefix):]
            break
    if value in ALIASES:
        return ALIASES[value]
    labels = value.split(".")
    # google.es, google.co.uk, google.com.mx, news.google.com: the brand wherever it sits before the suffix
    for label in labels[:-1] if len(labels) > 1 else labels:
        if label in SEARCH or label in SOCIAL:
            return label
    return value


def channel(touch: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """(source, medium, campaign) of a stored touch, normalised."""
    touch = touch or {}
    raw = str(touch.get("source") or touch.get("referrer") or "")
    source = source_of(raw)
    medium = " ".join(str(touch.get("medium") or "").lower().split())
    if not medium:
        if source == DIRECT:
            medium = NONE
        elif raw != str(touch.get("referrer") or ""):
            medium = NOT_SET  # a utm_source without utm_medium: nothing to infer it from
        elif source in SEARCH:
            medium = "organic"
        elif source in SOCIAL:
            medium = "social"
        else:
            medium = "referral"
    campaign = " ".join(str(touch.get("campaign") or "").split()) or NOT_SET
    return source, medium, campaign
