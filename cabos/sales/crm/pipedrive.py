"""Pipedrive: an API token, API v1 persons, organizations, deals and notes.

References (developers.pipedrive.com/docs/api/v1): ``GET /v1/{persons,organizations,deals}/search``
(``term``, ``fields``, ``exact_match``), ``POST /v1/{persons,organizations,deals,notes}``,
``GET /v1/pipelines``, ``GET /v1/stages?pipeline_id=``, ``GET /v1/{person,organization,deal}Fields``,
``GET /v1/recents?since_timestamp=YYYY-MM-DD HH:MM:SS&items=deal`` (paged with ``start``/``limit``,
``additional_data.pagination.more_items_in_collection`` and ``next_start``), ``DELETE /v1/persons/{id}``,
``DELETE /v1/notes/{id}``, ``GET /v1/notes?deal_id=``, ``GET /v1/users/me``. The token goes in the ``x-api-token`` header.
Every answer is ``{"success": …, "data": …}``; errors carry ``error`` and ``error_info``.
Limits are per token in 2-second windows: requests are spaced 0.1 s and a 429 is waited out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from cabos.sales.crm.base import Connector, CrmError, DealChange, Http, Ids, Push, cents, default_kind

PAGE = 100


def _describe(status: int, body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    info = body.get("error_info") if isinstance(body, dict) else None
    words = error or (str(body)[:300] if body else f"HTTP {status}")
    if info:
        words += f" ({info})"
    if status == 401:
        return "auth", f"Pipedrive refused the API token (HTTP 401): {words}"
    if status == 403:
        return "auth", f"Pipedrive says this user may not do that (HTTP 403): {words}"
    return default_kind(status), f"Pipedrive answered HTTP {status}: {words}"


class Pipedrive(Connector):
    name = "pipedrive"
    label = "Pipedrive"
    settings = ("CRM_PIPEDRIVE_TOKEN",)
    min_interval = 0.1

    def __init__(self, config: Any, mapping: Any) -> None:
        super().__init__(config, mapping)
        self.http = Http(self.label, str(config.get("CRM_PIPEDRIVE_URL") or "https://api.pipedrive.com"),
                         lambda: {"x-api-token": str(config.get("CRM_PIPEDRIVE_TOKEN"))},
                         float(config.get("CRM_TIMEOUT") or 20), self.min_interval, _describe)

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.call(method, path, **kwargs) or {}
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CrmError("rejected", f"Pipedrive refused: {answer.get('error')}", fix="see the message")
        return answer.get("data") if isinstance(answer, dict) else None

    # --- pipeline and stage -------------------------------------------------------------------

    def ids(self) -> tuple[int, int]:
        """The configured pipeline's and stage's ids (by id or name)."""
        pipelines = self._data("GET", "/v1/pipelines") or []
        wanted = self.mapping.pipeline
        pipeline = next((p for p in pipelines if wanted in (str(p.get("id")), p.get("name"))), None) if wanted \
            else next(iter(pipelines), None)
        if pipeline is None:
            names = ", ".join(f"{p.get('name')} (id {p.get('id')})" for p in pipelines) or "none"
            raise CrmError("config", f"Pipedrive has no pipeline {wanted!r}; its pipelines: {names}",
                           fix="set `pipeline:` under pipedrive in content/crm.yml to one of them")
        stages = self._data("GET", "/v1/stages", params={"pipeline_id": pipeline["id"]}) or []
        stage = next((s for s in stages if self.mapping.stage in (str(s.get("id")), s.get("name"))), None)
        if stage is None:
            names = ", ".join(f"{s.get('name')} (id {s.get('id')})" for s in stages) or "none"
            raise CrmError("config", f"Pipedrive's pipeline {pipeline.get('name')!r} has no stage "
                                     f"{self.mapping.stage!r}; its stages: {names}",
                           fix="set `stage:` under pipedrive in content/crm.yml to one of them")
        return int(pipeline["id"]), int(stage["id"])

    # --- push ---------------------------------------------------------------------------------

    def _find(self, kind: str, field: str, term: str) -> str | None:
        data = self._data("GET", f"/v1/{kind}/search", params={"term": term, "fields": field, "exact_match": "true",
                                                              "limit": 1}) or {}
        items = data.get("items") or []
        return str(items[0]["item"]["id"]) if items else None

    def _create(self, kind: str, body: dict[str, Any]) -> str:
        return str(self._data("POST", f"/v1/{kind}", body={k: v for k, v in body.items() if v not in (None, "")})["id"])

    def push(self, push: Push, ids: Ids) -> None:
        pipeline_id, stage_id = self.ids()
        if ids.company is None and push.company:
            ids.company = self._find("organizations", "name", push.company) or self._create(
                "organizations", {"name": push.company, **push.company_fields})
        if ids.person is None:
            name = " ".join(p for p in (push.first_name, push.last_name) if p) or push.email
            ids.person = self._find("persons", "email", push.email) or self._create("persons", {
                "name": name, "email": [{"value": push.email, "primary": True, "label": "work"}],
                "org_id": int(ids.company) if ids.company else None, **push.contact_fields})
        found = False
        if ids.deal is None:
            ids.deal = self._find("deals", "title", push.deal_name)
            found = ids.deal is not None
            ids.deal = ids.deal or self._create("deals", {
                "title": push.deal_name, "person_id": int(ids.person), "pipeline_id": pipeline_id,
                "stage_id": stage_id, "org_id": int(ids.company) if ids.company else None, **push.deal_fields})
        if ids.note is None and found:  # a push cut short may have left its note on the deal
            notes = self._data("GET", "/v1/notes", params={"deal_id": ids.deal, "limit": 100}) or []
            ids.note = next((str(n["id"]) for n in notes if push.note_title in str(n.get("content") or "")), None)
        if ids.note is None:
            ids.note = self._create("notes", {"content": push.note_html, "deal_id": int(ids.deal),
                                              "person_id": int(ids.person),
                                              "org_id": int(ids.company) if ids.company else None})

    # --- pull ---------------------------------------------------------------------------------

    def changes(self, since: str) -> Iterator[DealChange]:
        # Recents are changes *after* the timestamp (whole seconds): ask from a second before the
        # cursor so a change in the cursor's own second is not missed (seen twice is harmless).
        since = since or "1970-01-01 00:00:01"
        since = (datetime.strptime(since, "%Y-%m-%d %H:%M:%S") - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        start = 0
        while True:
            answer = self.http.call("GET", "/v1/recents", params={
                "since_timestamp": since, "items": "deal", "start": start, "limit": PAGE}) or {}
            for row in answer.get("data") or []:
                deal = row.get("data") or {}
                if row.get("item") != "deal" or not deal.get("id"):
                    continue
                status = deal.get("status") if deal.get("status") in ("won", "lost") else "open"
                won = deal.get("won_time") or deal.get("close_time")
                yield DealChange(str(deal["id"]), status, str(deal.get("update_time") or since),
                                 cents(deal.get("value")), deal.get("currency") or None,
                                 str(deal.get("lost_reason") or ""),
                                 datetime.strptime(won[:10], "%Y-%m-%d").date() if won else None)
            pagination = (answer.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return
            start = int(pagination.get("next_start") or start + PAGE)

    def cursor_at(self, moment: datetime) -> str:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    # --- erase and check ----------------------------------------------------------------------

    def erase(self, ids: Ids) -> None:
        if ids.note:
            self.http.call("DELETE", f"/v1/notes/{ids.note}", ok=(404, 410))
        if ids.person:
            self.http.call("DELETE", f"/v1/persons/{ids.person}", ok=(404, 410))

    def check(self) -> list[str]:
        if self.missing():
            return ["CABOS_CRM_PIPEDRIVE_TOKEN is not set: in Pipedrive open Personal preferences → API, copy "
                    "your personal API token and put it there."]
        try:
            self._data("GET", "/v1/users/me")
            self.ids()
        except CrmError as exc:
            return [exc.words()]
        problems: list[str] = []
        for kind, key in (("personFields", "contact_fields"), ("organizationFields", "company_fields"),
                          ("dealFields", "deal_fields")):
            fields = getattr(self.mapping, key)
            if not fields:
                continue
            try:
                known = {f.get("key") for f in self._data("GET", f"/v1/{kind}", params={"limit": 500}) or []}
            except CrmError as exc:
                return [exc.words()]
            problems += [f"Pipedrive has no {kind[:-6]} field {name!r} (content/crm.yml, pipedrive.{key}): use the "
                         "field's API key (Settings → Data fields → the field's menu → Copy API key)"
                         for name in fields if name not in known]
        return problems
