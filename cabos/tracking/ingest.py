"""The ingest pipeline: parse → validate → drop → enrich → store.

Each step is a plain function. ``parse`` and ``validate`` raise ``Invalid`` (the route
answers 400 with the reason, and nothing is stored or counted); ``drop`` returns a
``Dropped`` with a named reason (the route answers 204, so a sender learns nothing, and
the reason is counted for staff); ``enrich`` turns an accepted beacon into a ``Reading``
for the store (``store.write_batch``, through the write buffer).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from cabos.content import Document, Library
from cabos.tracking import bots, consent, tokens, touches
from cabos.tracking.consent import Level
from cabos.tracking.store import Reading

MAX_BODY = 4096
MAX_ENGAGED_MS = 24 * 3600 * 1000
MAX_SEQ = 100_000

# Drop reasons: each is counted per day in ``tracking_drops`` (``cabos tracking drops``).
BOT = "bot"                    # crawler list, headless or scripted client, automated browser
FOREIGN_HOST = "foreign_host"  # sent from a page on another site
UNKNOWN_VIEW = "unknown_view"  # page token we did not sign, too old, or for content we no longer serve
CONSENT = "consent"            # consent required and not given
RATE_LIMIT = "rate_limit"      # too many beacons from one visitor or network
OVERLOAD = "overload"          # the write buffer is full (the database is not keeping up)
DROP_REASONS = (BOT, FOREIGN_HOST, UNKNOWN_VIEW, CONSENT, RATE_LIMIT, OVERLOAD)

_NONCE = re.compile(r"^[0-9a-f]{32}$")
_CTA = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


class Invalid(ValueError):
    """A payload we cannot read: answered 400 with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Beacon(NamedTuple):
    """A payload of the expected shape, every value within its bounds (named tuples: cheap to make)."""

    token: str
    nonce: str
    seq: int
    engaged_ms: int
    scroll_pct: int
    read_to_end: bool
    age_ms: int = 0
    ctas: tuple[str, ...] = ()
    query: str = ""
    referrer: str = ""
    dnt: bool = False
    webdriver: bool = False


class Context(NamedTuple):
    """What the request says besides the payload."""

    user_agent: str
    client_key: str          # a keyed hash of the client address: rate limits without keeping it
    network: str             # the address truncated to /24 (IPv4) or /48 (IPv6)
    source_host: str | None  # host of the Origin (or Referer) header, if any
    fetch_site: str | None   # Sec-Fetch-Site
    own_hosts: frozenset[str]
    mode: str                # consent mode of the site
    choice: str | None       # the visitor's consent cookie
    signal: bool             # DNT / Sec-GPC request headers
    visitor_id: str | None   # verified visitor cookie
    now: datetime


class Accepted(NamedTuple):
    doc: Document
    level: Level


class Dropped(NamedTuple):
    reason: str


# -- parse ---------------------------------------------------------------------------------

def _no_constants(name: str) -> Any:
    raise Invalid("not_json")  # NaN, Infinity: not JSON


def parse(body: bytes) -> dict[str, Any]:
    """Bytes to a JSON object; at most MAX_BODY bytes."""
    if len(body) > MAX_BODY:
        raise Invalid("too_large")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, Invalid):
            raise
        raise Invalid("not_json") from None
    if not isinstance(value, dict):
        raise Invalid("not_an_object")
    return value


# -- validate ------------------------------------------------------------------------------

def _int(raw: dict[str, Any], key: str, high: int, required: bool = True) -> int:
    value = raw.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema: 4413.0 is an integer
    # bool is an int in Python, not in the schema.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise Invalid(f"{key}: integer from 0 to {high}")
    return value


def _bool(raw: dict[str, Any], key: str, required: bool = False) -> bool:
    value = raw.get(key, None if required else False)
    if not isinstance(value, bool):
        raise Invalid(f"{key}: true or false")
    return value


def _str(raw: dict[str, Any], key: str, limit: int, required: bool = False) -> str:
    value = raw.get(key, None if required else "")
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise Invalid(f"{key}: text of at most {limit} characters")
    return value


FIELDS = frozenset({"token", "nonce", "seq", "engaged_ms", "scroll_pct", "read_to_end", "age_ms", "ctas",
                    "query", "referrer", "dnt", "webdriver"})


def validate(raw: dict[str, Any]) -> Beacon:
    """The payload's shape and bounds (see ``/t/openapi.json``)."""
    unknown = set(raw) - FIELDS
    if unknown:
        raise Invalid(f"unknown field: {sorted(unknown)[0][:40]}")
    nonce = _str(raw, "nonce", 32, required=True)
    if not _NONCE.match(nonce):
        raise Invalid("nonce: 32 lower-case hexadecimal digits")
    ctas = raw.get("ctas", [])
    if not isinstance(ctas, list) or len(ctas) > 20 or not all(isinstance(c, str) and _CTA.match(c) for c in ctas):
        raise Invalid("ctas: at most 20 names of 1 to 40 letters, digits, '_', '.', ':' or '-'")
    return Beacon(
        token=_str(raw, "token", 300, required=True),
        nonce=nonce,
        seq=_int(raw, "seq", MAX_SEQ),
        engaged_ms=_int(raw, "engaged_ms", MAX_ENGAGED_MS),
        scroll_pct=_int(raw, "scroll_pct", 100),
        read_to_end=_bool(raw, "read_to_end", required=True),
        age_ms=_int(raw, "age_ms", MAX_ENGAGED_MS, required=False),
        ctas=tuple(dict.fromkeys(ctas)),
        query=_str(raw, "query", 1000),
        referrer=_str(raw, "referrer", 2000),
        dnt=_bool(raw, "dnt"),
        webdriver=_bool(raw, "webdriver"),
    )


# -- drop ----------------------------------------------------------------------------------

def drop(beacon: Beacon, ctx: Context, library: Library, verify_token: Callable[[str], tuple[str, str] | None],
         allow: Callable[[str], bool]) -> Accepted | Dropped:
    """Keep the beacon, or say why not. ``allow(key)`` is the rate limiter."""
    if bots.is_bot(ctx.user_agent, beacon.webdriver):
        return Dropped(BOT)
    if ctx.fetch_site == "cross-site" or (ctx.source_host is not None and ctx.source_host not in ctx.own_hosts):
        return Dropped(FOREIGN_HOST)
    signed = verify_token(beacon.token)
    doc = library.document(signed[0], signed[1]) if signed and signed[0] in ("article", "guide", "page") else None  # type: ignore[arg-type]
    if doc is None:
        return Dropped(UNKNOWN_VIEW)
    level = consent.level(ctx.mode, ctx.choice, ctx.signal or beacon.dnt)
    if level is Level.NONE:
        return Dropped(CONSENT)
    key = f"v:{ctx.visitor_id}" if level is Level.PERSONAL and ctx.visitor_id else f"c:{ctx.client_key}"
    if not allow(key) or (limited(ctx.network) and not allow(f"n:{ctx.network}")):
        return Dropped(RATE_LIMIT)
    return Accepted(doc, level)


# -- enrich --------------------------------------------------------------------------------

def enrich(beacon: Beacon, accepted: Accepted, ctx: Context, visitor_id: str | None, landing: str) -> Reading:
    """Everything the store needs: content facts, depth, start, campaign, referrer."""
    doc = accepted.doc
    started = ctx.now - timedelta(milliseconds=beacon.age_ms)
    touch, campaign = touches.touch(beacon.query, beacon.referrer, landing, started, ctx.own_hosts)
    reading = Reading(kind=doc.kind, slug=doc.slug, stage=doc.stage, problems=list(doc.problems),
                      received_at=ctx.now, started_at=started, first_send=beacon.seq == 0)
    if accepted.level is not Level.PERSONAL or visitor_id is None:
        return reading
    reading.visitor_id = visitor_id
    reading.view_id = tokens.view_id(doc.kind, doc.slug, beacon.nonce, visitor_id)
    reading.engaged_ms = beacon.engaged_ms
    reading.scroll_pct = beacon.scroll_pct
    reading.read_to_end = beacon.read_to_end
    reading.touch = touch
    reading.campaign = campaign
    data: dict[str, Any] = {"network": ctx.network}
    if beacon.ctas:
        data["ctas"] = list(beacon.ctas)
    if campaign:
        data["touch"] = touch
    reading.data = data
    return reading


# -- helpers for the route -----------------------------------------------------------------

@lru_cache(maxsize=8192)
def limited(network: str) -> bool:
    """Whether per-network limits apply: not to an unknown address, nor to loopback, which is a proxy in
    front of cabos with TRUSTED_PROXY_HOPS unset (every reader would share one network) or a test."""
    return bool(network) and not network.startswith(("127.", "::1"))


def truncate_ip(address: str | None) -> str:
    """The network, never the address: /24 for IPv4, /48 for IPv6."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@lru_cache(maxsize=8192)
def client_key(address: str | None, secret: bytes) -> str:
    return hashlib.blake2b((address or "").encode(), key=secret[:64], digest_size=12).hexdigest()


@lru_cache(maxsize=1024)
def host_of(url: str | None) -> str | None:
    if not url:
        return None
    host = touches.referrer_host(url)
    return host or "?"


@lru_cache(maxsize=256)
def own_hosts(*urls_or_hosts: str | None, extra: tuple[str, ...] = ()) -> frozenset[str]:
    hosts = {h.split(":")[0] for h in extra if h}
    for u in urls_or_hosts:
        if u:
            hosts.add(touches.referrer_host(u) if "//" in u else u.split(":")[0])
    return frozenset(h.lower() for h in hosts if h)
