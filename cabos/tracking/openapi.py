"""The OpenAPI document of the tracking endpoints, served at ``/t/openapi.json``.

It is the contract the tracker follows and the map standard API fuzzers (schemathesis)
use; ``ingest.validate`` enforces the same bounds.
"""

from __future__ import annotations

from typing import Any

from cabos.tracking.ingest import MAX_ENGAGED_MS, MAX_SEQ

_ERROR = {
    "type": "object",
    "required": ["error", "status", "detail"],
    "properties": {
        "error": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong, and how to fix it."},
    },
}

BEACON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["token", "nonce", "seq", "engaged_ms", "scroll_pct", "read_to_end"],
    "properties": {
        "token": {"type": "string", "minLength": 1, "maxLength": 300,
                  "description": "The page token the page carries (data-view): signed content kind and slug."},
        "nonce": {"type": "string", "pattern": "^[0-9a-f]{32}$",
                  "description": "128-bit random id of this page load, made by the tracker."},
        "seq": {"type": "integer", "minimum": 0, "maximum": MAX_SEQ,
                "description": "Send number within this page load; 0 counts the view."},
        "engaged_ms": {"type": "integer", "minimum": 0, "maximum": MAX_ENGAGED_MS,
                       "description": "Engaged time so far: page visible and reader active."},
        "scroll_pct": {"type": "integer", "minimum": 0, "maximum": 100,
                       "description": "Deepest point of the article seen, in percent."},
        "read_to_end": {"type": "boolean", "description": "The end of the article was on screen."},
        "age_ms": {"type": "integer", "minimum": 0, "maximum": MAX_ENGAGED_MS,
                   "description": "Milliseconds since the page loaded (when the view began)."},
        "ctas": {"type": "array", "maxItems": 20,
                 "items": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,40}$"},
                 "description": "Calls to action clicked (data-cta names)."},
        "query": {"type": "string", "maxLength": 1000, "description": "location.search (UTM parameters)."},
        "referrer": {"type": "string", "maxLength": 2000, "description": "document.referrer."},
        "dnt": {"type": "boolean", "description": "The browser says Do-Not-Track or Global Privacy Control."},
        "webdriver": {"type": "boolean", "description": "navigator.webdriver: an automated browser."},
    },
}

CONSENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["choice"],
    "properties": {"choice": {"type": "string", "enum": ["accept", "decline"]}},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def document(server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the tracking endpoints."""
    bad = {"description": "The payload is not of the expected shape; nothing was stored.", "content": _json(_ERROR)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "cabos tracking", "version": "1",
                 "description": "First-party reading beacons and consent. Beacons are answered 204 whether "
                                "they were stored or dropped (bot, consent, unknown view, rate limit, foreign "
                                "host), so a sender learns nothing; only malformed payloads get 400."},
        "servers": [{"url": server_url}],
        "paths": {
            "/t/e": {"post": {
                "operationId": "beacon",
                "summary": "Record or update one reading (a page view of an article).",
                "description": "Sent with navigator.sendBeacon (text/plain) or fetch keepalive; the body is "
                               "JSON whatever its Content-Type, at most 4096 bytes. Repeated sends of one page "
                               "load update one reading; depth only grows.",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": BEACON}, "text/plain": {"schema": BEACON}}},
                "responses": {
                    "204": {"description": "Accepted or dropped (no information leak). May set the visitor cookie."},
                    "400": bad,
                    "503": {"description": "Overloaded: the server's queue of readings is full (its database has "
                                           "been away or slow); nothing was stored. Retry after the given seconds.",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            "content": _json(_ERROR)},
                },
            }},
            "/t/consent": {"post": {
                "operationId": "consent",
                "summary": "Accept or decline tracking (decline also withdraws: it deletes the visitor cookie).",
                "requestBody": {"required": True, "content": _json(CONSENT)},
                "responses": {
                    "204": {"description": "Choice recorded in the consent cookie."},
                    "400": bad,
                    "403": {"description": "Sent from another site.", "content": _json(_ERROR)},
                },
            }},
        },
    }
