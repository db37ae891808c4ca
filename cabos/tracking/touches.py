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
from collections.abc import Collection
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
