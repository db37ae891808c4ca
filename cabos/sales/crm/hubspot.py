"""HubSpot: a private app token, CRM v3 objects (contacts, companies, deals, notes) and associations.

References (developers.hubspot.com/docs/api-reference): objects
``POST /crm/v3/objects/{contacts,companies,deals,notes}`` (with ``associations``),
``POST /crm/v3/objects/{type}/search`` (filters, sorts, ``paging.next.after``),
``GET /crm/v3/pipelines/deals``, ``GET /crm/v3/properties/{type}``,
``PUT /crm/v4/objects/contact/{id}/associations/default/company/{id}``,
``GET /crm/v4/objects/deal/{id}/associations/note``, ``GET /crm/v3/objects/notes/{id}``,
``POST /crm/v3/objects/contacts/gdpr-delete``. Default association type ids:
deal→contact 3, deal→company 5, note→contact 202, note→company 190, note→deal 214.
Limits: 100 requests per 10 s for a private app, search 5 per second: requests
are spaced 0.2 s and a 429 is waited out. Search lags creation by a few seconds: a
contact created meanwhile answers 409 "Existing ID", which is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from cabos.sales.crm.base import Connector, CrmError, DealChange, Http, Ids, Push, cents, default_kind

ASSOC = {("deals", "contacts"): 3, ("deals", "companies"): 5, ("notes", "contacts"): 202,
         ("notes", "companies"): 190, ("notes", "deals"): 214}
DEAL_PROPERTIES = ["dealstage", "pipeline", "amount", "deal_currency_code", "closedate", "closed_lost_reason",
                   "hs_lastmodifieddate"]
PAGE = 100


def _describe(status: int, body: Any) -> tuple[str, str]:
    message = body.get("message") if isinstance(body, dict) else None
    category = body.get("category") if isinstance(body, dict) else None
    words = message or (str(body)[:300] if body else f"HTTP {status}")
    if status == 401:
        return "auth", f"HubSpot refused the token (HTTP 401): {words}"
    if status == 403:
        return "auth", f"HubSpot says the token lacks a permission (HTTP 403, {category or 'forbidden'}): {words}"
    kind = default_kind(status)
    return kind, f"HubSpot answered HTTP {status}" + (f" ({category})" if category else "") + f": {words}"


def _ms(value: str) -> str:
    """An ISO time (HubSpot's ``hs_lastmodifieddate``) in epoch milliseconds, as search filters take it."""
    try:
        return str(int(value))
    except ValueError:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return str(int(moment.timestamp() * 1000))


class HubSpot(Connector):
    name = "hubspot"
    label = "HubSpot"
    settings = ("CRM_HUBSPOT_TOKEN",)
    min_interval = 0.2

    def __init__(self, config: Any, mapping: Any) -> None:
        super().__init__(config, mapping)
        self.http = Http(self.label, str(config.get("CRM_HUBSPOT_URL") or "https://api.hubapi.com"),
                         lambda: {"Authorization": f"Bearer {config.get('CRM_HUBSPOT_TOKEN')}"},
                         float(config.get("CRM_TIMEOUT") or 20), self.min_interval, _describe)
        self._pipelines: list[dict[str, Any]] | None = None

    # --- pipeline and stage -------------------------------------------------------------------

    def pipelines(self) -> list[dict[str, Any]]:
        if self._pipelines is None:
            self._pipelines = list((self.http.call("GET", "/crm/v3/pipelines/deals") or {}).get("results") or [])
        return self._pipelines

    def pipeline(self) -> dict[str, Any]:
        wanted = self.mapping.pipeline or "default"
        for p in self.pipelines():
            if wanted in (str(p.get("id")), p.get("label")):
                return p
        names = ", ".join(f"{p.get('label')} (id {p.get('id')})" for p in self.pipelines()) or "none"
        raise CrmError("config", f"HubSpot has no deal pipeline {wanted!r}; its pipelines: {names}",
                       fix="set `pipeline:` under hubspot in content/crm.yml to one of them")

    def stage(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        for s in pipeline.get("stages") or []:
            if self.mapping.stage in (str(s.get("id")), s.get("label")):
                return s
        names = ", ".join(f"{s.get('label')} (id {s.get('id')})" for s in pipeline.get("stages") or []) or "none"
        raise CrmError("config", f"HubSpot's pipeline {pipeline.get('label')!r} has no stage "
                                 f"{self.mapping.stage!r}; its stages: {names}",
                       fix="set `stage:` under hubspot in content/crm.yml to one of them")

    # --- push ---------------------------------------------------------------------------------

    def _find(self, kind: str, prop: str, value: str) -> str | None:
        body = {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}],
                "properties": [prop], "limit": 1}
        found = (self.http.call("POST", f"/crm/v3/objects/{kind}/search", body=body) or {}).get("results") or []
        return str(found[0]["id"]) if found else None

    def _create(self, kind: str, properties: dict[str, Any], to: list[tuple[str, str | None]] = ()) -> str:
        associations = [{"to": {"id": target}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                           "associationTypeId": ASSOC[(kind, other)]}]}
                        for other, target in to if target]
        body: dict[str, Any] = {"properties": {k: v for k, v in properties.items() if v not in (None, "")}}
        if associations:
            body["associations"] = associations
        return str(self.http.call("POST", f"/crm/v3/objects/{kind}", body=body)["id"])

    def _new_contact(self, push: Push) -> str:
        """Create the contact; if search had not indexed it yet, HubSpot answers 409 with its id, which is used."""
        try:
            return self._create("contacts", {"email": push.email, "firstname": push.first_name,
                                             "lastname": push.last_name, "company": push.company,
                                             **push.contact_fields})
        except CrmError as exc:
            existing = re.search(r"Existing ID: (\d+)", str(exc)) if exc.status == 409 else None
            if existing is None:
                raise
            return existing[1]

    def push(self, push: Push, ids: Ids) -> None:
        pipeline = self.pipeline()
        stage = self.stage(pipeline)
        if ids.person is None:
            ids.person = self._find("contacts", "email", push.email) or self._new_contact(push)
        if ids.company is None and (push.domain or push.company):
            ids.company = ((self._find("companies", "domain", push.domain) if push.domain else None)
                           or (self._find("companies", "name", push.company) if push.company else None)
                           or self._create("companies", {"name": push.company or push.domain, "domain": push.domain,
                                                         **push.company_fields}))
            self.http.call("PUT", f"/crm/v4/objects/contact/{ids.person}/associations/default/company/{ids.company}")
        found = False
        if ids.deal is None:
            ids.deal = self._find("deals", "dealname", push.deal_name)
            found = ids.deal is not None
            ids.deal = ids.deal or self._create("deals", {
                "dealname": push.deal_name, "pipeline": str(pipeline["id"]), "dealstage": str(stage["id"]),
                **push.deal_fields}, [("contacts", ids.person), ("companies", ids.company)])
        if ids.note is None and found:  # a push cut short may have left its note on the deal
            ids.note = self._note_on(ids.deal, push.note_title)
        if ids.note is None:
            ids.note = self._create("notes", {"hs_timestamp": push.created_at.astimezone(timezone.utc).isoformat(),
                                              "hs_note_body": push.note_html},
                                    [("contacts", ids.person), ("deals", ids.deal), ("companies", ids.company)])

    def _note_on(self, deal: str, title: str) -> str | None:
        linked = self.http.call("GET", f"/crm/v4/objects/deal/{deal}/associations/note") or {}
        for row in linked.get("results") or []:
            note = self.http.call("GET", f"/crm/v3/objects/notes/{row['toObjectId']}",
                                  params={"properties": "hs_note_body"}, ok=(404,)) or {}
            if title in str((note.get("properties") or {}).get("hs_note_body") or ""):
                return str(row["toObjectId"])
        return None

    # --- pull ---------------------------------------------------------------------------------

    def _status(self, stage_id: str) -> str:
        for p in self.pipelines():
            for s in p.get("stages") or []:
                if str(s.get("id")) == stage_id:
                    meta = s.get("metadata") or {}
                    if str(meta.get("isClosed")).lower() == "true":
                        return "won" if float(meta.get("probability") or 0) >= 1 else "lost"
                    return "open"
        return "open"

    def changes(self, since: str) -> Iterator[DealChange]:
        pipeline = self.pipeline()
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": [{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since or "0"},
                    {"propertyName": "pipeline", "operator": "EQ", "value": str(pipeline["id"])}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": DEAL_PROPERTIES, "limit": PAGE}
            if after:
                body["after"] = after
            page = self.http.call("POST", "/crm/v3/objects/deals/search", body=body) or {}
            for deal in page.get("results") or []:
                props = deal.get("properties") or {}
                status = self._status(str(props.get("dealstage")))
                closed = props.get("closedate")
                yield DealChange(
                    str(deal["id"]), status, _ms(props.get("hs_lastmodifieddate") or deal.get("updatedAt") or "0"),
                    cents(props.get("amount")), (props.get("deal_currency_code") or None),
                    str(props.get("closed_lost_reason") or ""),
                    datetime.fromisoformat(closed.replace("Z", "+00:00")).date() if closed else None)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def cursor_at(self, moment: datetime) -> str:
        return str(int(moment.timestamp() * 1000))

    # --- erase and check ----------------------------------------------------------------------

    def erase(self, ids: Ids) -> None:
        if ids.note:
            self.http.call("DELETE", f"/crm/v3/objects/notes/{ids.note}", ok=(404,))
        if ids.person:
            self.http.call("POST", "/crm/v3/objects/contacts/gdpr-delete", body={"objectId": ids.person}, ok=(404,))

    def check(self) -> list[str]:
        if self.missing():
            return ["CABOS_CRM_HUBSPOT_TOKEN is not set: create a private app in HubSpot (Settings → Integrations → "
                    "Private apps) with the scopes in docs/crm.md and put its access token there."]
        problems: list[str] = []
        try:
            self.stage(self.pipeline())
        except CrmError as exc:
            return [exc.words()]
        for kind, key in (("contacts", "contact_fields"), ("companies", "company_fields"), ("deals", "deal_fields")):
            fields = getattr(self.mapping, key)
            if not fields:
                continue
            try:
                known = {p.get("name") for p in (self.http.call("GET", f"/crm/v3/properties/{kind}") or {})
                         .get("results") or []}
            except CrmError as exc:
                return [exc.words()]
            problems += [f"HubSpot {kind} have no property {name!r} (content/crm.yml, hubspot.{key}): "
                         "use the property's internal name (Settings → Properties)" for name in fields
                         if name not in known]
        return problems
