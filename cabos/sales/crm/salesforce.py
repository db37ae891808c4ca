"""Salesforce: OAuth 2.0 client credentials or JWT bearer, REST API sObjects and SOQL queries.

References (developer.salesforce.com): the token from
``POST {My Domain}/services/oauth2/token`` with ``grant_type=client_credentials`` (consumer key
and secret), or with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an
``assertion``: a JWT signed RS256 with the app's certificate key, claims ``iss`` (consumer key),
``sub`` (the integration user's username), ``aud`` (login.salesforce.com, test.salesforce.com for
a sandbox) and ``exp`` (at most 3 minutes ahead). Both answer ``access_token`` and ``instance_url``; ``GET /services/data/vXX.X/query?q=SOQL``
(paged by ``nextRecordsUrl`` until ``done``); ``POST /services/data/vXX.X/sobjects/{Contact,Lead,
Account,Opportunity,OpportunityContactRole,Task}`` (answers ``{"id", "success", "errors"}``);
``GET …/sobjects/{type}/describe`` (fields and picklist values); ``DELETE …/sobjects/{type}/{id}``.
Errors are a list of ``{"message", "errorCode", "fields"}``; an expired token is 401
``INVALID_SESSION_ID`` (cabos asks for a new one once); ``REQUEST_LIMIT_EXCEEDED`` (403) means
the org's daily API allocation is spent: cabos waits an hour.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cabos.sales.crm.base import Connector, CrmError, DealChange, Http, Ids, Push, cents, default_kind

API = "/services/data/v62.0"
RATE_WAIT = 3600.0
FIELDS_BY_KEY = {"contact_fields": None, "company_fields": "Account", "deal_fields": "Opportunity"}


def _describe(status: int, body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and body.get("error"):  # the OAuth token endpoint
        return "auth", (f"Salesforce refused the client credentials: {body.get('error')}"
                        f" ({body.get('error_description') or 'no description'})")
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code, message = first.get("errorCode", ""), first.get("message") or (str(body)[:300] if body else f"HTTP {status}")
    fields = f" (fields: {', '.join(first['fields'])})" if first.get("fields") else ""
    words = f"Salesforce answered HTTP {status} {code}: {message}{fields}".replace("  ", " ")
    if code == "REQUEST_LIMIT_EXCEEDED":
        return "rate", words
    if code in ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "INVALID_TYPE", "INVALID_FIELD", "NOT_FOUND"):
        return "config" if code != "NOT_FOUND" else "rejected", words
    if status in (401, 403) or code in ("INVALID_SESSION_ID", "INSUFFICIENT_ACCESS", "API_DISABLED_FOR_ORG"):
        return "auth", words
    return default_kind(status), words


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def soql(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Salesforce(Connector):
    name = "salesforce"
    label = "Salesforce"
    settings = ("CRM_SALESFORCE_URL", "CRM_SALESFORCE_CLIENT_ID", "CRM_SALESFORCE_CLIENT_SECRET")

    def missing(self) -> list[str]:
        if self.config.get("CRM_SALESFORCE_PRIVATE_KEY_FILE"):  # JWT bearer: a key and a user instead of a secret
            return [s for s in ("CRM_SALESFORCE_URL", "CRM_SALESFORCE_CLIENT_ID", "CRM_SALESFORCE_USERNAME")
                    if not self.config.get(s)]
        return super().missing()
    min_interval = 0.05

    _tokens: ClassVar[dict[str, tuple[str, str]]] = {}  # (login URL, client id) -> (token, instance URL)
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: Any, mapping: Any) -> None:
        super().__init__(config, mapping)
        self.login = str(config.get("CRM_SALESFORCE_URL") or "").rstrip("/")
        self.key = f"{self.login}|{config.get('CRM_SALESFORCE_CLIENT_ID')}"
        self.http = Http(self.label, self.login, self._auth, float(config.get("CRM_TIMEOUT") or 20),
                         self.min_interval, _describe)

    # --- the token ----------------------------------------------------------------------------

    def _token(self, fresh: bool = False) -> tuple[str, str]:
        with self._lock:
            if not fresh and self.key in self._tokens:
                return self._tokens[self.key]
        if self.config.get("CRM_SALESFORCE_PRIVATE_KEY_FILE"):
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self._assertion()}
        else:
            form = {"grant_type": "client_credentials", "client_id": str(self.config.get("CRM_SALESFORCE_CLIENT_ID")),
                    "client_secret": str(self.config.get("CRM_SALESFORCE_CLIENT_SECRET"))}
        answer = self.http.raw("POST", f"{self.login}/services/oauth2/token", form=form)
        if answer.status != 200 or not isinstance(answer.body, dict) or "access_token" not in answer.body:
            kind, words = _describe(answer.status, answer.body)
            raise CrmError("auth" if kind != "temporary" else kind, words, answer.status,
                           fix="check CABOS_CRM_SALESFORCE_URL (your My Domain), the consumer key and secret (or "
                               "for the JWT bearer flow the key file, the certificate uploaded to the app and the "
                               "user pre-authorised), and the app's OAuth settings (docs/crm.md); then run "
                               "`cabos crm test`")
        token = (str(answer.body["access_token"]), str(answer.body.get("instance_url") or self.login).rstrip("/"))
        with self._lock:
            self._tokens[self.key] = token
        return token

    def audience(self) -> str:
        return "https://test.salesforce.com" if ".sandbox.my.salesforce.com" in self.login \
            else "https://login.salesforce.com"

    def _assertion(self) -> str:
        """The JWT bearer assertion: RS256 over header.claims with the app's private key."""
        path = str(self.config.get("CRM_SALESFORCE_PRIVATE_KEY_FILE"))
        try:
            with open(path, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise CrmError("auth", f"cannot read the Salesforce private key {path} ({type(exc).__name__}: {exc})",
                           fix="CABOS_CRM_SALESFORCE_PRIVATE_KEY_FILE must name an unencrypted PEM RSA key") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CrmError("auth", f"the Salesforce private key {path} is not an RSA key",
                           fix="the JWT bearer flow signs with RS256: use the RSA key of the app's certificate")
        claims = {"iss": str(self.config.get("CRM_SALESFORCE_CLIENT_ID")),
                  "sub": str(self.config.get("CRM_SALESFORCE_USERNAME") or ""), "aud": self.audience(),
                  "exp": int(time.time()) + 180}
        signing = f"{_b64(json.dumps({'alg': 'RS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64(signature)}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()[0]}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An API call on the instance; an expired token is renewed once."""
        for attempt in (1, 2):
            url = path if path.startswith("http") else self._token()[1] + path
            try:
                return self.http.call(method, url, **kwargs)
            except CrmError as exc:
                if exc.kind == "rate" and exc.status == 403:
                    exc.retry_after = RATE_WAIT
                if attempt == 1 and exc.status == 401:
                    self._token(fresh=True)
                    continue
                raise
        raise AssertionError("unreachable")

    def query(self, statement: str) -> Iterator[dict[str, Any]]:
        page = self.call("GET", f"{API}/query", params={"q": statement}) or {}
        while True:
            yield from page.get("records") or []
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.call("GET", str(page["nextRecordsUrl"])) or {}

    def _first(self, statement: str) -> str | None:
        return next((str(r["Id"]) for r in self.query(statement)), None)

    def _create(self, kind: str, body: dict[str, Any]) -> str:
        answer = self.call("POST", f"{API}/sobjects/{kind}", body={k: v for k, v in body.items() if v not in (None, "")})
        return str(answer["id"])

    # --- push ---------------------------------------------------------------------------------

    def push(self, push: Push, ids: Ids) -> None:
        lead = self.mapping.person == "Lead"
        last = push.last_name or push.first_name or push.email.split("@")[0]
        first = push.first_name if push.last_name else ""
        if ids.company is None and push.company and not lead:
            ids.company = self._first(f"SELECT Id FROM Account WHERE Name = {soql(push.company)} LIMIT 1") \
                or self._create("Account", {"Name": push.company, "Website": push.domain, **push.company_fields})
        if ids.person is None:
            if lead:
                ids.person = self._first(f"SELECT Id FROM Lead WHERE Email = {soql(push.email)} AND IsConverted = false "
                                         "LIMIT 1") or self._create("Lead", {
                    "FirstName": first, "LastName": last, "Email": push.email,
                    "Company": push.company or push.domain or "[not provided]", **push.contact_fields})
            else:
                ids.person = self._first(f"SELECT Id FROM Contact WHERE Email = {soql(push.email)} LIMIT 1") \
                    or self._create("Contact", {"FirstName": first, "LastName": last, "Email": push.email,
                                                "AccountId": ids.company, **push.contact_fields})
        found = False
        if ids.deal is None:
            ids.deal = self._first(f"SELECT Id FROM Opportunity WHERE Name = {soql(push.deal_name)} LIMIT 1")
            found = ids.deal is not None
            if ids.deal is None:
                close = (push.created_at + timedelta(days=30)).date().isoformat()
                ids.deal = self._create("Opportunity", {"Name": push.deal_name, "StageName": self.mapping.stage,
                                                        "CloseDate": close, "AccountId": ids.company,
                                                        "LeadSource": "cabos", **push.deal_fields})
                if not lead:
                    self._create("OpportunityContactRole", {"OpportunityId": ids.deal, "ContactId": ids.person,
                                                            "IsPrimary": True})
        if found and not lead and not self._first(
                f"SELECT Id FROM OpportunityContactRole WHERE OpportunityId = {soql(ids.deal)} AND "
                f"ContactId = {soql(ids.person)} LIMIT 1"):
            self._create("OpportunityContactRole", {"OpportunityId": ids.deal, "ContactId": ids.person,
                                                    "IsPrimary": True})
        if ids.note is None and found:  # a push cut short may have left its task on the opportunity
            ids.note = self._first(f"SELECT Id FROM Task WHERE WhatId = {soql(ids.deal)} AND "
                                   f"Subject = {soql(push.note_title[:255])} LIMIT 1")
        if ids.note is None:
            ids.note = self._create("Task", {"Subject": push.note_title[:255], "Description": push.note_text[:32000],
                                             "WhoId": None if lead else ids.person, "WhatId": ids.deal,
                                             "Status": "Completed", "Priority": "Normal",
                                             "ActivityDate": push.created_at.date().isoformat()})

    # --- pull ---------------------------------------------------------------------------------

    def changes(self, since: str) -> Iterator[DealChange]:
        since = since or "1970-01-01T00:00:00Z"
        for row in self.query("SELECT Id, StageName, IsClosed, IsWon, Amount, CloseDate, SystemModstamp "
                              f"FROM Opportunity WHERE SystemModstamp >= {since} ORDER BY SystemModstamp ASC"):
            status = ("won" if row.get("IsWon") else "lost") if row.get("IsClosed") else "open"
            close = row.get("CloseDate")
            stamp = str(row.get("SystemModstamp") or since)
            yield DealChange(str(row["Id"]), status, self._cursor(stamp), cents(row.get("Amount")),
                             row.get("CurrencyIsoCode") or None, str(row.get("StageName") or ""),
                             datetime.strptime(close[:10], "%Y-%m-%d").date() if close else None)

    @staticmethod
    def _cursor(stamp: str) -> str:
        """'2026-12-03T11:00:00.000+0000' -> '2026-12-03T11:00:00Z' (a SOQL datetime literal)."""
        try:
            moment = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return stamp
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def cursor_at(self, moment: datetime) -> str:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- erase and check ----------------------------------------------------------------------

    def erase(self, ids: Ids) -> None:
        if ids.note:
            self.call("DELETE", f"{API}/sobjects/Task/{ids.note}", ok=(404,))
        if ids.person:
            kind = "Lead" if ids.person.startswith("00Q") else "Contact"
            self.call("DELETE", f"{API}/sobjects/{kind}/{ids.person}", ok=(404,))

    def check(self) -> list[str]:
        if self.missing():
            return [f"{', '.join('CABOS_' + s for s in self.missing())} not set: create an external client app with "
                    "the client credentials flow (or the JWT bearer flow) as docs/crm.md says, and put your My "
                    "Domain URL, the consumer key and the secret (or the key file and the username) there."]
        try:
            opportunity = self.call("GET", f"{API}/sobjects/Opportunity/describe") or {}
        except CrmError as exc:
            return [exc.words()]
        problems: list[str] = []
        stage = next((f for f in opportunity.get("fields") or [] if f.get("name") == "StageName"), {})
        stages = [v.get("value") for v in stage.get("picklistValues") or [] if v.get("active", True)]
        if self.mapping.stage not in stages:
            problems.append(f"Salesforce has no opportunity stage {self.mapping.stage!r}; its stages: "
                            f"{', '.join(stages) or 'none'} — set `stage:` under salesforce in content/crm.yml")
        for key, kind in FIELDS_BY_KEY.items():
            fields = getattr(self.mapping, key)
            kind = kind or self.mapping.person
            if not fields:
                continue
            described = opportunity if kind == "Opportunity" else self.call("GET", f"{API}/sobjects/{kind}/describe")
            known = {f.get("name") for f in (described or {}).get("fields") or []}
            problems += [f"Salesforce {kind} has no field {name!r} (content/crm.yml, salesforce.{key}): use the "
                         "field's API name (Object Manager → Fields & Relationships)" for name in fields
                         if name not in known]
        return problems
