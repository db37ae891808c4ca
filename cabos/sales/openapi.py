"""The OpenAPI 3.1 document of the sales REST API, served at ``/api/openapi.json``.

The tracking beacon has its own document at ``/t/openapi.json``: different
clients (the page's tracker vs. a CRM with a token), so two small documents.
"""

from __future__ import annotations

from typing import Any

from cabos.sales.activities import KINDS as ACTIVITY_KINDS
from cabos.sales.activities import MAX_BODY, MAX_STEP
from cabos.sales.forms import MAX_PHONE
from cabos.sales.lifecycle import STAGES as LIFECYCLE
from cabos.sales.models import STATUSES
from cabos.sales.outcomes import KINDS
from cabos.sales.queue import SORTS
from cabos.sales.queue import STATUSES as QUEUE_STATUSES

_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "status", "detail"], "properties": {
        "error": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong, and how to fix it."}}},
    "Contact": {"type": "object", "required": ["id", "email"], "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "company": {"type": "string"}, "role": {"type": "string"}, "company_size": {"type": "string"},
        "country": {"type": "string"}, "phone": {"type": "string", "description": "Entered by staff."},
        "custom": {"type": "object", "additionalProperties": {"type": "string"}},
        "created_at": _TIME}},
    "ContactInput": {"type": "object", "required": ["phone"], "additionalProperties": False, "properties": {
        "phone": {"type": "string", "maxLength": MAX_PHONE,
                  "description": "Digits, spaces, + ( ) - . / and an extension (`x 12`); an empty string clears it."}}},
    "Activity": {"type": "object", "required": ["id", "contact_id", "kind", "occurred_at"], "properties": {
        "id": {"type": "integer"}, "contact_id": {"type": "integer"}, "kind": {"type": "string", "enum": list(
            ACTIVITY_KINDS)}, "body": {"type": "string"}, "by": {"type": ["integer", "null"],
                                                              "description": "Staff user id."},
        "by_email": {"type": ["string", "null"]}, "occurred_at": _TIME,
        "next_step": {"type": ["string", "null"]}, "due_on": {"type": ["string", "null"], "format": "date"},
        "done_at": _NTIME}},
    "ActivityInput": {"type": "object", "required": ["kind"], "additionalProperties": False, "properties": {
        "kind": {"type": "string", "enum": list(ACTIVITY_KINDS)},
        "body": {"type": "string", "maxLength": MAX_BODY, "description": "What was said (this or a next step)."},
        "next_step": {"type": "string", "maxLength": MAX_STEP},
        "due_on": {"type": "string", "format": "date",
                   "description": "Required with a next step; today or later in SALES_TIMEZONE."}}},
    "Handoff": {"type": "object", "required": ["id", "contact_id", "status"], "properties": {
        "id": {"type": "integer"}, "contact_id": {"type": "integer"},
        "assigned_to": {"type": ["integer", "null"], "description": "Staff user id."},
        "status": {"type": "string", "enum": list(STATUSES)}, "reason": {"type": "string"},
        "created_at": _TIME, "due_at": {**_TIME, "description": "First-response deadline (working hours)."},
        "grade": {"type": ["string", "null"]}, "score": {"type": "number", "description": "intent score at handoff time (same as score_at_handoff)"},
        "score_at_handoff": {"type": "number", "description": "intent score when the contact was handed off"},
        "top_problem": {"type": ["string", "null"]},
        "first_response_at": _NTIME, "outcome_reason": {"type": ["string", "null"]},
        "revenue_cents": {"type": ["integer", "null"]}, "currency": {"type": ["string", "null"]},
        "won_on": {"type": ["string", "null"], "format": "date"}, "closed_at": _NTIME,
        "stage": {"type": "string", "enum": list(LIFECYCLE),
                  "description": "The contact's stage: lead, handed_off, accepted, customer, nurture, disqualified."}}},
    "Event": {"type": "object", "required": ["id", "type", "occurred_at"], "properties": {
        "id": {"type": "integer"}, "type": {"type": "string", "description": "reading, form_submit, download, "
                                            "email_sent, email_click, mode_change, grade_change, handoff, outcome, …"},
        "occurred_at": _TIME, "visitor": {"type": ["string", "null"]}, "content_kind": {"type": ["string", "null"]},
        "content_slug": {"type": ["string", "null"]}, "title": {"type": "string"}, "stage": {"type": ["string", "null"]},
        "problems": {"type": "array", "items": {"type": "string"}}, "engaged_ms": {"type": "integer"},
        "scroll_pct": {"type": "integer"}, "read_to_end": {"type": "boolean"}, "data": {"type": "object"}}},
    "Brief": {"type": "object", "description": "Mode, grade, top problems with their readings and questions, "
              "downloads, the switch to purchase mode and the latest touch.", "properties": {
                  "mode": {"type": ["string", "null"]}, "grade": {"type": ["string", "null"]},
                  "score": {"type": "number", "description": "intent score now, decay applied"}, "problems": {"type": "array", "items": {"type": "object"}},
                  "downloads": {"type": "array", "items": {"type": "object"}},
                  "purchase_mode": {"type": ["object", "null"]}, "latest_touch": {"type": "object"}}},
    "OutcomeInput": {"type": "object", "required": ["kind"], "additionalProperties": False, "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "reason": {"type": "string", "maxLength": 200,
                   "description": "Required for sent_back, disqualified and lost: one of the reasons in site.yml."},
        "note": {"type": "string", "maxLength": 2000},
        "revenue_cents": {"type": "integer", "minimum": 1, "description": "Required for won."},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
        "won_on": {"type": "string", "format": "date"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
           for code, text in (("400", "Bad parameter or body"), ("401", "No or bad token"),
                              ("403", "The token's role may not do this"), ("404", "Not found, or not yours"))}
_ID = {"in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def document(server: str) -> dict[str, Any]:
    """The API description, with ``server`` (the request's host URL) as its base."""
    page = {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "cabos sales API", "version": "1",
                 "description": "Contacts, their trail, handoffs and outcomes. A token acts as its staff user: "
                                "salespeople see only their own handoffs."},
        "servers": [{"url": server.rstrip("/") + "/api"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": {
            "/deliverability": {"get": {
                "summary": "Emails sent, bounced, complained about and suppressed, per sequence and step "
                           "(marketers, admins)",
                "parameters": [{"name": "since", "in": "query", "schema": {"type": "string", "format": "date"},
                                "description": "Count emails sent on or after this day (UTC)."}],
                "responses": {"200": _ok({"type": "object"}),
                              **{k: v for k, v in _ERRORS.items() if k in ("400", "401", "403")}}}},
            "/contacts": {"get": {"summary": "Contacts you may see", "parameters": [page], "responses": {
                "200": _ok({"type": "object", "properties": {"contacts": {"type": "array", "items": _ref("Contact")},
                                                              "page": {"type": "integer"},
                                                              "more": {"type": "boolean"}}}),
                **{k: v for k, v in _ERRORS.items() if k in ("400", "401")}}}},
            "/contacts/{contact_id}": {"get": {
                "summary": "A contact, their brief and handoffs",
                "parameters": [{"name": "contact_id", **_ID}], "responses": {
                    "200": _ok({"type": "object", "properties": {
                        "contact": _ref("Contact"), "brief": _ref("Brief"),
                        "stage": {"type": "string", "enum": list(LIFECYCLE)},
                        "handoffs": {"type": "array", "items": _ref("Handoff")},
                        "activities": {"type": "array", "items": _ref("Activity")}}}),
                    **{k: v for k, v in _ERRORS.items() if k in ("401", "404")}}},
                "patch": {"summary": "Set the contact's phone (sales, admins)",
                          "parameters": [{"name": "contact_id", **_ID}],
                          "requestBody": {"required": True, "content": {"application/json": {
                              "schema": _ref("ContactInput")}}},
                          "responses": {"200": _ok(_ref("Contact"), "Saved"), **_ERRORS}}},
            "/contacts/{contact_id}/trail": {"get": {
                "summary": "The contact's events, newest first, paged with `next`",
                "parameters": [{"name": "contact_id", **_ID},
                               {"name": "before", "in": "query", "schema": {"type": "string", "maxLength": 60},
                                "description": "The `next` of the previous page."},
                               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                           "maximum": 500}}],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "events": {"type": "array", "items": _ref("Event")}, "next": {"type": ["string", "null"]}}}),
                    **{k: v for k, v in _ERRORS.items() if k in ("400", "401", "404")}}}},
            "/contacts/{contact_id}/activities": {
                "get": {"summary": "Notes, calls and next steps on the contact, newest first",
                        "parameters": [{"name": "contact_id", **_ID}],
                        "responses": {"200": _ok({"type": "object", "properties": {
                            "activities": {"type": "array", "items": _ref("Activity")}}}),
                            **{k: v for k, v in _ERRORS.items() if k in ("401", "404")}}},
                "post": {"summary": "Log a note, call, meeting or email, with an optional next step (sales, admins)",
                         "parameters": [{"name": "contact_id", **_ID}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": _ref("ActivityInput")}}},
                         "responses": {"201": _ok(_ref("Activity"), "Saved"), **_ERRORS}}},
            "/handoffs": {"get": {
                "summary": "The handoff queue",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string",
                                                                            "enum": list(QUEUE_STATUSES)}},
                               {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
                               {"name": "assignee", "in": "query", "schema": {"type": "string"},
                                "description": "`all`, `none` or a staff user id (not for salespeople)."}, page],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "handoffs": {"type": "array", "items": _ref("Handoff")}, "page": {"type": "integer"},
                    "more": {"type": "boolean"}}}), **{k: v for k, v in _ERRORS.items() if k in ("400", "401")}}}},
            "/handoffs/{handoff_id}": {"get": {
                "summary": "A handoff and its outcomes", "parameters": [{"name": "handoff_id", **_ID}],
                "responses": {"200": _ok(_ref("Handoff")),
                              **{k: v for k, v in _ERRORS.items() if k in ("401", "404")}}}},
            "/handoffs/{handoff_id}/outcome": {"post": {
                "summary": "Record an outcome (the assignee or an admin)",
                "parameters": [{"name": "handoff_id", **_ID}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("OutcomeInput")}}},
                "responses": {"201": _ok(_ref("Handoff"), "Recorded"), **_ERRORS}}},
        },
    }
