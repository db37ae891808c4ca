"""Small CRMs on loopback that speak the documented endpoints cabos uses (the real ones are outside the machine).

Each fake keeps its records in memory, checks the credentials the way the CRM
does, answers with the CRM's payloads, pages its lists, refuses bad stages and
fields with the CRM's error bodies, and can be told to answer a request once
with a 429 (and Retry-After) or to drop the connection after doing the work
(a lost answer: the record exists, cabos does not know it).

The same few helpers on every fake let one contract test run against all three:
``records(kind)`` (person, company, deal, note: normalised), ``win``, ``lose``,
``add_deal`` (a deal cabos never pushed), ``script`` (the next matching request
gets this answer), ``config`` (the settings that point cabos here).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    method: str
    pattern: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False  # do the work, then close the connection without answering


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.method = handler.command
        parsed = urllib.parse.urlsplit(handler.path)
        self.path = parsed.path
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type") or ""
        if content_type.startswith("application/x-www-form-urlencoded"):
            self.body: Any = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        else:
            self.body = json.loads(raw) if raw else None


class FakeCrm:
    """The server and the bookkeeping every fake shares."""

    name = ""

    def __init__(self, page_cap: int = 2) -> None:
        self.page_cap = page_cap  # lists answer at most this many rows a page, so paging is exercised
        self.lock = threading.RLock()
        self.scripted: list[Scripted] = []
        self.log: list[tuple[str, str]] = []
        self.ids = itertools.count(101)
        self.clock = datetime.now(timezone.utc).replace(microsecond=0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                request = Request(self)
                with outer.lock:
                    outer.log.append((request.method, self.path))
                    script = outer._scripted(request)
                    if script is not None and not script.drop:
                        return self._answer(script.status, script.body, script.headers or {})
                    status, body, headers = outer.route(request)
                if script is not None and script.drop:
                    self.close_connection = True
                    return None
                return self._answer(status, body, headers)

            def _answer(self, status: int, body: Any, headers: dict[str, str]) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if raw:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def tick(self) -> datetime:
        """The CRM's clock: real time, and every change at least a second after the one before."""
        self.clock = max(self.clock + timedelta(seconds=1), datetime.now(timezone.utc).replace(microsecond=0))
        return self.clock

    def script(self, method: str, pattern: str, status: int = 200, body: Any = None,
               headers: dict[str, str] | None = None, drop: bool = False) -> None:
        self.scripted.append(Scripted(method, pattern, status, body, headers, drop))

    def _scripted(self, request: Request) -> Scripted | None:
        for i, s in enumerate(self.scripted):
            if s.method == request.method and re.search(s.pattern, request.path):
                return self.scripted.pop(i)
        return None

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, p in self.log if m == method and re.search(pattern, p))

    def route(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


# --- HubSpot --------------------------------------------------------------------------------------

HUBSPOT_TOKEN = "pat-eu1-test-token"
HUBSPOT_PROPERTIES = {
    "contacts": {"email", "firstname", "lastname", "company", "jobtitle", "country"},
    "companies": {"name", "domain", "numberofemployees"},
    "deals": {"dealname", "pipeline", "dealstage", "amount", "deal_currency_code", "closedate", "closed_lost_reason",
              "hs_lastmodifieddate"},
    "notes": {"hs_timestamp", "hs_note_body"},
}
HUBSPOT_PIPELINES = [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False, "stages": [
    {"id": "appointmentscheduled", "label": "Appointment Scheduled", "displayOrder": 0,
     "metadata": {"isClosed": "false", "probability": "0.2"}},
    {"id": "closedwon", "label": "Closed Won", "displayOrder": 1, "metadata": {"isClosed": "true", "probability": "1.0"}},
    {"id": "closedlost", "label": "Closed Lost", "displayOrder": 2,
     "metadata": {"isClosed": "true", "probability": "0.0"}}]}]


class FakeHubSpot(FakeCrm):
    name = "hubspot"

    def __init__(self, page_cap: int = 2) -> None:
        super().__init__(page_cap)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in HUBSPOT_PROPERTIES}
        self.assoc: set[tuple[str, str, str, str, int]] = set()
        self.token = HUBSPOT_TOKEN
        self.not_indexed: set[str] = set()  # records search does not find yet (HubSpot indexes with a lag)

    def config(self, token: str | None = None) -> dict[str, Any]:
        return {"CRM_HUBSPOT_URL": self.url, "CRM_HUBSPOT_TOKEN": token or self.token}

    def _error(self, status: int, message: str, category: str) -> tuple[int, Any, dict[str, str]]:
        return status, {"status": "error", "message": message, "correlationId": "c0ffee", "category": category}, {}

    def route(self, r: Request) -> tuple[int, Any, dict[str, str]]:
        if r.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                    "authentication and you can find more details at https://developers.hubspot.com/",
                               "INVALID_AUTHENTICATION")
        if r.method == "GET" and r.path == "/crm/v3/pipelines/deals":
            return 200, {"results": HUBSPOT_PIPELINES}, {}
        if m := re.fullmatch(r"/crm/v3/properties/(\w+)", r.path):
            return 200, {"results": [{"name": n} for n in sorted(HUBSPOT_PROPERTIES.get(m[1], ()))]}, {}
        if r.method == "GET" and (m := re.fullmatch(r"/crm/v4/objects/deal/(\d+)/associations/note", r.path)):
            return 200, {"results": [{"toObjectId": int(i), "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}]} for (k, i, other, d, t) in self.assoc
                if k == "notes" and other == "deals" and d == m[1] and i in self.objects["notes"]]}, {}
        if r.method == "GET" and (m := re.fullmatch(r"/crm/v3/objects/(\w+)/(\d+)", r.path)):
            found = self.objects.get(m[1], {}).get(m[2])
            if found is None:
                return self._error(404, "resource not found", "OBJECT_NOT_FOUND")
            wanted = r.query.get("properties", "").split(",")
            return 200, {**found, "properties": {k: found["properties"].get(k) for k in wanted if k}}, {}
        if r.method == "POST" and (m := re.fullmatch(r"/crm/v3/objects/(\w+)/search", r.path)):
            return self._search(m[1], r.body)
        if r.method == "POST" and r.path == "/crm/v3/objects/contacts/gdpr-delete":
            gone = self.objects["contacts"].pop(str(r.body["objectId"]), None)
            return (204, None, {}) if gone else self._error(404, "resource not found", "OBJECT_NOT_FOUND")
        if r.method == "POST" and (m := re.fullmatch(r"/crm/v3/objects/(\w+)", r.path)):
            return self._create(m[1], r.body)
        if r.method == "DELETE" and (m := re.fullmatch(r"/crm/v3/objects/(\w+)/(\d+)", r.path)):
            gone = self.objects[m[1]].pop(m[2], None)
            return (204, None, {}) if gone else self._error(404, "resource not found", "OBJECT_NOT_FOUND")
        if r.method == "PUT" and (m := re.fullmatch(r"/crm/v4/objects/contact/(\d+)/associations/default/company/(\d+)",
                                                    r.path)):
            self.assoc.add(("contacts", m[1], "companies", m[2], 279))
            return 200, {"status": "COMPLETE", "results": [{"from": {"id": m[1]}, "to": {"id": m[2]}}]}, {}
        return self._error(404, f"no route {r.method} {r.path}", "OBJECT_NOT_FOUND")

    def _create(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        props = dict(body.get("properties") or {})
        bad = [p for p in props if p not in HUBSPOT_PROPERTIES[kind]]
        if bad:
            details = json.dumps([{"isValid": False, "message": f'Property "{p}" does not exist',
                                   "error": "PROPERTY_DOESNT_EXIST", "name": p} for p in bad])
            return self._error(400, f"Property values were not valid: {details}", "VALIDATION_ERROR")
        if kind == "contacts":
            same = next((o for o in self.objects["contacts"].values() if o["properties"].get("email") == props["email"]),
                        None)
            if same:
                return self._error(409, f"Contact already exists. Existing ID: {same['id']}", "CONFLICT")
        if kind == "deals":
            pipeline = next((p for p in HUBSPOT_PIPELINES if p["id"] == props.get("pipeline")), None)
            if pipeline is None or props.get("dealstage") not in {s["id"] for s in pipeline["stages"]}:
                return self._error(400, f"Property values were not valid: dealstage {props.get('dealstage')!r} is "
                                        "not a valid stage of the pipeline", "VALIDATION_ERROR")
        oid = str(next(self.ids))
        now = self.tick().isoformat().replace("+00:00", "Z")
        props["hs_lastmodifieddate"] = now
        self.objects[kind][oid] = {"id": oid, "properties": props, "createdAt": now, "updatedAt": now, "archived": False}
        for a in body.get("associations") or []:
            for t in a["types"]:
                self.assoc.add((kind, oid, self._kind_of(str(a["to"]["id"])), str(a["to"]["id"]), t["associationTypeId"]))
        return 201, self.objects[kind][oid], {}

    def _kind_of(self, oid: str) -> str:
        return next((k for k, objs in self.objects.items() if oid in objs), "?")

    def _search(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        rows = [o for o in self.objects[kind].values() if o["id"] not in self.not_indexed]
        for group in body.get("filterGroups") or []:
            for f in group["filters"]:
                value, op, name = str(f["value"]), f["operator"], f["propertyName"]
                if op == "EQ":
                    rows = [o for o in rows if str(o["properties"].get(name, "")).lower() == value.lower()]
                elif op == "GTE":
                    rows = [o for o in rows if _epoch_ms(o["properties"].get(name)) >= int(value)]
        for s in body.get("sorts") or []:
            rows.sort(key=lambda o: str(o["properties"].get(s["propertyName"], "")),
                      reverse=s.get("direction") == "DESCENDING")
        start = int(body.get("after") or 0)
        size = min(int(body.get("limit") or 10), self.page_cap)
        page = rows[start:start + size]
        out: dict[str, Any] = {"total": len(rows), "results": [
            {**o, "properties": {k: o["properties"].get(k) for k in body.get("properties") or []}} for o in page]}
        if start + size < len(rows):
            out["paging"] = {"next": {"after": str(start + size)}}
        return 200, out, {}

    # --- what tests look at and do ------------------------------------------------------------

    def records(self, kind: str) -> list[dict[str, Any]]:
        objects = self.objects[{"person": "contacts", "company": "companies", "deal": "deals", "note": "notes"}[kind]]
        out = []
        for o in objects.values():
            p = o["properties"]
            links = {other: oid for (k, i, other, oid, _t) in self.assoc if k in ("deals", "notes") and i == o["id"]}
            out.append({"id": o["id"], "email": p.get("email"), "name": p.get("name") or p.get("dealname"),
                        "stage": p.get("dealstage"), "pipeline": p.get("pipeline"), "text": p.get("hs_note_body"),
                        "person": links.get("contacts"), "company": links.get("companies"), "deal": links.get("deals"),
                        "fields": p})
        return out

    def _change(self, deal_id: str, **props: Any) -> None:
        with self.lock:
            deal = self.objects["deals"][deal_id]
            deal["properties"].update(props, hs_lastmodifieddate=self.tick().isoformat().replace("+00:00", "Z"))

    def win(self, deal_id: str, amount: str, currency: str) -> None:
        self._change(deal_id, dealstage="closedwon", amount=amount, deal_currency_code=currency,
                     closedate="2026-12-01T10:00:00Z")

    def lose(self, deal_id: str, reason: str) -> None:
        self._change(deal_id, dealstage="closedlost", closed_lost_reason=reason, closedate="2026-12-01T10:00:00Z")

    def add_deal(self, name: str) -> str:
        with self.lock:
            return str(self._create("deals", {"properties": {"dealname": name, "pipeline": "default",
                                                             "dealstage": "appointmentscheduled"}})[1]["id"])

    deal_create = ("POST", r"^/crm/v3/objects/deals$")
    refuse_token = "pat-eu1-expired"


def _epoch_ms(value: Any) -> int:
    if not value:
        return 0
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


# --- Pipedrive ------------------------------------------------------------------------------------

PIPEDRIVE_TOKEN = "pd-test-token-0123"


class FakePipedrive(FakeCrm):
    name = "pipedrive"

    def __init__(self, page_cap: int = 2) -> None:
        super().__init__(page_cap)
        self.items: dict[str, dict[int, dict[str, Any]]] = {"persons": {}, "organizations": {}, "deals": {},
                                                             "notes": {}}
        self.pipelines = [{"id": 1, "name": "Ventas", "active": True}, {"id": 2, "name": "Partners", "active": True}]
        self.stages = [{"id": 1, "name": "Cualificado", "pipeline_id": 1}, {"id": 2, "name": "Propuesta",
                                                                            "pipeline_id": 1},
                       {"id": 3, "name": "Contacto", "pipeline_id": 2}]
        self.token = PIPEDRIVE_TOKEN

    def config(self, token: str | None = None) -> dict[str, Any]:
        return {"CRM_PIPEDRIVE_URL": self.url, "CRM_PIPEDRIVE_TOKEN": token or self.token}

    @staticmethod
    def _error(status: int, error: str) -> tuple[int, Any, dict[str, str]]:
        return status, {"success": False, "error": error, "errorCode": status,
                        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
                        "data": None, "additional_data": None}, {}

    def _now(self) -> str:
        return self.tick().strftime("%Y-%m-%d %H:%M:%S")

    def route(self, r: Request) -> tuple[int, Any, dict[str, str]]:
        if r.headers.get("x-api-token") != self.token:
            return self._error(401, "unauthorized access")
        ok = lambda data, extra=None: (200 if r.method != "POST" else 201,  # noqa: E731
                                       {"success": True, "data": data, **({"additional_data": extra} if extra else {})},
                                       {})
        if r.path == "/v1/users/me":
            return ok({"id": 7, "name": "Test", "company_domain": "test"})
        if r.path == "/v1/pipelines":
            return ok(self.pipelines)
        if r.path == "/v1/stages":
            return ok([s for s in self.stages if str(s["pipeline_id"]) == r.query.get("pipeline_id")])
        if m := re.fullmatch(r"/v1/(person|organization|deal)Fields", r.path):
            keys = {"person": ["name", "email", "phone", "org_id", "job_title"], "organization": ["name", "address"],
                    "deal": ["title", "value", "currency", "stage_id", "pipeline_id"]}[m[1]]
            return ok([{"key": k, "name": k} for k in keys])
        if r.method == "GET" and (m := re.fullmatch(r"/v1/(persons|organizations|deals)/search", r.path)):
            return self._search(m[1], r.query)
        if r.method == "POST" and (m := re.fullmatch(r"/v1/(persons|organizations|deals|notes)", r.path)):
            return self._create(m[1], r.body)
        if r.method == "DELETE" and (m := re.fullmatch(r"/v1/(persons|notes)/(\d+)", r.path)):
            if self.items[m[1]].pop(int(m[2]), None) is None:
                return self._error(404, "Item not found")
            return 200, {"success": True, "data": {"id": int(m[2])}}, {}
        if r.method == "GET" and r.path == "/v1/notes":
            return ok([n for n in self.items["notes"].values() if str(n.get("deal_id")) == r.query.get("deal_id")],
                      {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}})
        if r.path == "/v1/recents":
            return self._recents(r.query)
        return self._error(404, "Unknown method .")

    def _create(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if kind in ("persons", "organizations") and not body.get("name"):
            return self._error(400, "Name must be given.")
        if kind == "deals":
            if not body.get("title"):
                return self._error(400, "Title must be given.")
            if not any(s["id"] == body.get("stage_id") for s in self.stages):
                return self._error(400, "Stage not found")
        if kind == "notes" and not (body.get("content") and (body.get("deal_id") or body.get("person_id"))):
            return self._error(400, "Content and one of deal_id, person_id, org_id must be given.")
        item = {**body, "id": next(self.ids), "update_time": self._now()}
        if kind == "deals":
            item.update(status="open", value=0, currency="EUR", won_time=None, lost_reason=None)
        self.items[kind][item["id"]] = item
        return 201, {"success": True, "data": item}, {}

    def _search(self, kind: str, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        term, field = q.get("term", ""), q.get("fields", "")
        if len(term) < 2:
            return self._error(400, "Search term must be at least 2 characters long")

        def matches(item: dict[str, Any]) -> bool:
            value = item.get(field)
            values = [e.get("value") for e in value] if isinstance(value, list) else [value]
            return any(str(v or "").lower() == term.lower() for v in values)

        found = [i for i in self.items[kind].values() if matches(i)]
        return 200, {"success": True, "data": {"items": [{"result_score": 1.0, "item": {
            "id": i["id"], "type": kind[:-1], "name": i.get("name") or i.get("title")}} for i in found]},
            "additional_data": {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}}}, {}

    def _recents(self, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        since = q["since_timestamp"]
        rows = sorted((d for d in self.items["deals"].values() if d["update_time"] > since),  # documented: after
                      key=lambda d: d["update_time"])
        start, limit = int(q.get("start") or 0), min(int(q.get("limit") or 100), self.page_cap)
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return 200, {"success": True, "data": [{"item": "deal", "id": d["id"], "data": d} for d in page],
                     "additional_data": {"since_timestamp": since,
                                         "last_timestamp_on_page": page[-1]["update_time"] if page else since,
                                         "pagination": {"start": start, "limit": limit,
                                                        "more_items_in_collection": more,
                                                        **({"next_start": start + limit} if more else {})}}}, {}

    def records(self, kind: str) -> list[dict[str, Any]]:
        items = self.items[{"person": "persons", "company": "organizations", "deal": "deals", "note": "notes"}[kind]]
        return [{"id": str(i["id"]), "email": (i.get("email") or [{}])[0].get("value") if kind == "person" else None,
                 "name": i.get("name") or i.get("title"), "stage": str(i.get("stage_id")) if kind == "deal" else None,
                 "pipeline": str(i.get("pipeline_id")) if kind == "deal" else None, "text": i.get("content"),
                 "person": str(i["person_id"]) if i.get("person_id") else None,
                 "company": str(i["org_id"]) if i.get("org_id") else None,
                 "deal": str(i["deal_id"]) if i.get("deal_id") else None, "fields": i} for i in items.values()]

    def win(self, deal_id: str, amount: str, currency: str) -> None:
        with self.lock:
            self.items["deals"][int(deal_id)].update(status="won", value=float(amount), currency=currency,
                                                     won_time="2026-12-01 10:00:00", update_time=self._now())

    def lose(self, deal_id: str, reason: str) -> None:
        with self.lock:
            self.items["deals"][int(deal_id)].update(status="lost", lost_reason=reason, update_time=self._now())

    def add_deal(self, name: str) -> str:
        with self.lock:
            return str(self._create("deals", {"title": name, "stage_id": 1, "pipeline_id": 1})[1]["data"]["id"])

    deal_create = ("POST", r"^/v1/deals$")
    refuse_token = "pd-revoked"


# --- Salesforce -----------------------------------------------------------------------------------

SF_CLIENT = ("3MVG9test-consumer-key", "test-consumer-secret")
SF_API = "/services/data/v62.0"
SF_PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "Task": "00T",
             "OpportunityContactRole": "00K"}
SF_FIELDS = {
    "Account": {"Id", "Name", "Website", "Industry"},
    "Contact": {"Id", "FirstName", "LastName", "Email", "AccountId", "Title", "MailingCountry"},
    "Lead": {"Id", "FirstName", "LastName", "Email", "Company", "Title", "Country", "IsConverted"},
    "Opportunity": {"Id", "Name", "StageName", "CloseDate", "AccountId", "Amount", "LeadSource", "IsClosed", "IsWon",
                    "SystemModstamp"},
    "OpportunityContactRole": {"Id", "OpportunityId", "ContactId", "IsPrimary", "Role"},
    "Task": {"Id", "Subject", "Description", "WhoId", "WhatId", "Status", "Priority", "ActivityDate"},
}
SF_REQUIRED = {"Account": ["Name"], "Contact": ["LastName"], "Lead": ["LastName", "Company"],
               "Opportunity": ["Name", "StageName", "CloseDate"], "OpportunityContactRole": ["OpportunityId"],
               "Task": []}
SF_STAGES = ["Prospecting", "Qualification", "Proposal/Price Quote", "Closed Won", "Closed Lost"]


class FakeSalesforce(FakeCrm):
    name = "salesforce"

    def __init__(self, page_cap: int = 2) -> None:
        super().__init__(page_cap)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in SF_FIELDS}
        self.tokens: set[str] = set()
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self.client = SF_CLIENT
        self.token_grants = 0

    def config(self, token: str | None = None) -> dict[str, Any]:
        return {"CRM_SALESFORCE_URL": self.url, "CRM_SALESFORCE_CLIENT_ID": self.client[0],
                "CRM_SALESFORCE_CLIENT_SECRET": token or self.client[1]}

    jwt_key: Any = None  # the certificate's public key, for the JWT bearer flow
    jwt_user = "integration@acme.example"

    def _jwt_problem(self, assertion: str) -> str:
        """What Salesforce would say about this assertion (empty: valid)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, body, sig = assertion.split(".")
            pad = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
            if json.loads(pad(head)).get("alg") != "RS256":
                return "invalid assertion"
            self.jwt_key.verify(pad(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(pad(body))
        except (ValueError, InvalidSignature, AttributeError):
            return "invalid assertion"
        if claims.get("iss") != self.client[0]:
            return "invalid client credentials"
        if claims.get("aud") != "https://login.salesforce.com" or not time.time() < claims.get("exp", 0) <= time.time() + 300:
            return "invalid assertion"
        if claims.get("sub") != self.jwt_user:
            return "user hasn't approved this consumer"
        return ""

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    @staticmethod
    def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> tuple[int, Any, dict]:
        return status, [{"message": message, "errorCode": code, "fields": fields or []}], {}

    def route(self, r: Request) -> tuple[int, Any, dict[str, str]]:
        if r.path == "/services/oauth2/token" and r.method == "POST":
            form = r.body or {}
            if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                problem = self._jwt_problem(form.get("assertion", ""))
                if problem:
                    return 400, {"error": "invalid_grant", "error_description": problem}, {}
            elif form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
            elif (form.get("client_id"), form.get("client_secret")) != self.client:
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
            token = f"00Dtest!{next(self.ids)}"
            self.tokens.add(token)
            self.token_grants += 1
            return 200, {"access_token": token, "instance_url": self.url, "id": f"{self.url}/id/00D/005",
                         "token_type": "Bearer", "issued_at": "1764579600000", "signature": "x"}, {}
        auth = r.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self._error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if r.method == "GET" and r.path == f"{SF_API}/query":
            return self._query(r.query["q"])
        if r.method == "GET" and r.path.startswith(f"{SF_API}/query/"):
            return self._page(r.path.rsplit("/", 1)[1])
        if r.method == "GET" and (m := re.fullmatch(rf"{SF_API}/sobjects/(\w+)/describe", r.path)):
            fields = [{"name": f, "picklistValues": [{"value": s, "active": True} for s in SF_STAGES]
                       if f == "StageName" else []} for f in sorted(SF_FIELDS.get(m[1], ()))]
            return 200, {"name": m[1], "fields": fields}, {}
        if r.method == "POST" and (m := re.fullmatch(rf"{SF_API}/sobjects/(\w+)", r.path)):
            return self._create(m[1], r.body or {})
        if r.method == "DELETE" and (m := re.fullmatch(rf"{SF_API}/sobjects/(\w+)/(\w+)", r.path)):
            if self.rows.get(m[1], {}).pop(m[2], None) is None:
                return self._error(404, "ENTITY_IS_DELETED", "entity is deleted")
            return 204, None, {}
        return self._error(404, "NOT_FOUND", "The requested resource does not exist")

    def _stamp(self) -> str:
        return self.tick().strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def _create(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if kind not in SF_FIELDS:
            return self._error(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{kind}'")
        for name in body:
            if name not in SF_FIELDS[kind]:
                return self._error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {kind}")
        missing = [f for f in SF_REQUIRED[kind] if not body.get(f)]
        if missing:
            return self._error(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                               missing)
        if kind == "Opportunity" and body["StageName"] not in SF_STAGES:
            return self._error(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               f"Stage: bad value for restricted picklist field: {body['StageName']}", ["StageName"])
        rid = f"{SF_PREFIX[kind]}5g00000{next(self.ids):05d}AAA"[:18]
        row = {**body, "Id": rid}
        if kind == "Opportunity":
            row.update(IsClosed=False, IsWon=False, Amount=None, SystemModstamp=self._stamp())
        if kind == "Lead":
            row["IsConverted"] = False
        self.rows[kind][rid] = row
        return 201, {"id": rid, "success": True, "errors": []}, {}

    def _query(self, q: str) -> tuple[int, Any, dict[str, str]]:
        m = re.fullmatch(r"SELECT (.+?) FROM (\w+) WHERE (.+?)( ORDER BY (\w+) ASC)?( LIMIT (\d+))?", q.strip())
        if not m or m[2] not in SF_FIELDS:
            return self._error(400, "MALFORMED_QUERY", f"unexpected token in: {q}")
        columns = [c.strip() for c in m[1].split(",")]
        unknown = [c for c in columns if c not in SF_FIELDS[m[2]]]
        if unknown:
            return self._error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{m[2]}'")
        rows = list(self.rows[m[2]].values())
        for cond in m[3].split(" AND "):
            c = re.fullmatch(r"(\w+) (=|>=) (.+)", cond.strip())
            if not c:
                return self._error(400, "MALFORMED_QUERY", f"unexpected condition: {cond}")
            field, op, raw = c[1], c[2], c[3]
            if raw.startswith("'"):
                value: Any = raw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
            elif raw in ("true", "false"):
                value = raw == "true"
            else:
                value = raw.replace("Z", "")
            if op == "=":
                rows = [x for x in rows if x.get(field) == value]
            else:
                rows = [x for x in rows if str(x.get(field, ""))[:19] >= str(value)[:19]]
        if m[5]:
            rows.sort(key=lambda x: str(x.get(m[5])))
        if m[7]:
            rows = rows[:int(m[7])]
        records = [{"attributes": {"type": m[2], "url": f"{SF_API}/sobjects/{m[2]}/{x['Id']}"},
                    **{c: x.get(c) for c in columns}} for x in rows]
        return self._page_of(records)

    def _page_of(self, records: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        page, rest = records[:self.page_cap], records[self.page_cap:]
        out: dict[str, Any] = {"totalSize": len(records), "done": not rest, "records": page}
        if rest:
            key = f"01gD0000000{next(self.ids)}"
            self.cursors[key] = rest
            out["nextRecordsUrl"] = f"{SF_API}/query/{key}-{self.page_cap}"
        return 200, out, {}

    def _page(self, locator: str) -> tuple[int, Any, dict[str, str]]:
        rest = self.cursors.pop(locator.rsplit("-", 1)[0], None)
        if rest is None:
            return self._error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page_of(rest)

    def records(self, kind: str) -> list[dict[str, Any]]:
        if kind == "person":
            rows = [*self.rows["Contact"].values(), *self.rows["Lead"].values()]
        else:
            rows = list(self.rows[{"company": "Account", "deal": "Opportunity", "note": "Task"}[kind]].values())
        roles = {r["OpportunityId"]: r["ContactId"] for r in self.rows["OpportunityContactRole"].values()}
        out = []
        for x in rows:
            person = x.get("WhoId") or roles.get(x["Id"]) if kind in ("deal", "note") else None
            if kind == "note" and person is None and x.get("WhatId"):
                person = roles.get(x["WhatId"])
            out.append({"id": x["Id"], "email": x.get("Email"), "name": x.get("Name") or x.get("LastName"),
                        "stage": x.get("StageName"), "pipeline": None, "text": x.get("Description"),
                        "person": person, "company": x.get("AccountId"),
                        "deal": x.get("WhatId") if kind == "note" else None, "fields": x})
        return out

    def win(self, deal_id: str, amount: str, currency: str) -> None:
        with self.lock:
            self.rows["Opportunity"][deal_id].update(StageName="Closed Won", IsClosed=True, IsWon=True,
                                                     Amount=float(amount), CloseDate="2026-12-01",
                                                     SystemModstamp=self._stamp())

    def lose(self, deal_id: str, reason: str) -> None:
        with self.lock:
            # Salesforce has no standard loss-reason field: the stage itself is what cabos reads.
            self.rows["Opportunity"][deal_id].update(StageName="Closed Lost", IsClosed=True, IsWon=False,
                                                     SystemModstamp=self._stamp())

    def add_deal(self, name: str) -> str:
        with self.lock:
            return str(self._create("Opportunity", {"Name": name, "StageName": "Prospecting",
                                                    "CloseDate": "2026-12-31"})[1]["id"])

    deal_create = ("POST", rf"^{SF_API}/sobjects/Opportunity$")
    refuse_token = "wrong-secret"


FAKES = {"hubspot": FakeHubSpot, "pipedrive": FakePipedrive, "salesforce": FakeSalesforce}
