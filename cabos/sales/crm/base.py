"""The connector interface (what a CRM must do for cabos) and the HTTP client every connector shares.

A connector is one class with five methods: ``check`` (credentials and mapping,
in plain words), ``push`` (a handoff becomes a person, a company, a deal and a
note, each found before it is created), ``changes`` (deal changes since a
cursor, page by page), ``erase`` (a contact erased in cabos) and
``cursor_at`` (a ``--since`` date in the CRM's own format). Everything else
(the outbox, claims, retries, outcomes, cursors) is shared in ``sync``.

Errors are ``CrmError`` with a kind the outbox acts on: ``rate`` waits for
Retry-After, ``temporary`` retries with backoff, ``auth``, ``config`` and
``rejected`` fail the delivery at once with the CRM's own words and the fix.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from cabos.sales.crm.mapping import CrmMapping

RATE_WAIT_DEFAULT = 10.0  # seconds to wait after a 429 that does not say how long
SHORT_WAIT = 2.0  # a Retry-After this short is waited out in the same attempt


class CrmError(Exception):
    """A CRM refused or could not be reached; ``kind`` decides retry or fail, ``fix`` says what to do."""

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None,
                 fix: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # auth | config | rejected | rate | temporary
        self.status = status
        self.retry_after = retry_after
        self.fix = fix

    @property
    def permanent(self) -> bool:
        return self.kind in ("auth", "config", "rejected")

    def words(self) -> str:
        return f"{self}" + (f" — {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Push:
    """One handoff as the CRM will see it (fields already mapped to the CRM's names)."""

    handoff_id: int
    email: str
    first_name: str
    last_name: str
    company: str
    domain: str  # the company's web domain, from the address (none for free-mail providers)
    deal_name: str  # fixed when queued: the search key that keeps one deal per handoff
    note_title: str
    note_text: str
    note_html: str
    created_at: datetime
    contact_fields: Mapping[str, Any] = field(default_factory=dict)
    company_fields: Mapping[str, Any] = field(default_factory=dict)
    deal_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Ids:
    """The CRM's ids of what a handoff became; filled in as each record is found or made."""

    person: str | None = None
    company: str | None = None
    deal: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class DealChange:
    """A deal as the CRM has it now: open, won (amount, currency, day) or lost (the CRM's reason)."""

    deal_id: str
    status: str  # open | won | lost
    position: str  # the cursor value after this change
    amount_cents: int | None = None
    currency: str | None = None
    reason: str = ""
    closed_on: date | None = None


class Connector:
    """One CRM. Subclasses set the class attributes and implement the five methods."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    settings: ClassVar[tuple[str, ...]] = ()  # the settings it cannot work without
    min_interval: ClassVar[float] = 0.1  # seconds between two requests (the CRM's documented limits)

    def __init__(self, config: Mapping[str, Any], mapping: CrmMapping) -> None:
        self.config = config
        self.mapping = mapping

    def missing(self) -> list[str]:
        return [s for s in self.settings if not self.config.get(s)]

    def check(self) -> list[str]:
        """What is wrong with the credentials and the mapping, in plain words (empty: all good)."""
        raise NotImplementedError

    def push(self, push: Push, ids: Ids) -> None:
        """Find or create person, company, deal and note; set each id on ``ids`` as soon as it is known."""
        raise NotImplementedError

    def changes(self, since: str) -> Iterator[DealChange]:
        """Deals changed at or after the cursor ``since`` (empty: from the start), oldest first."""
        raise NotImplementedError

    def erase(self, ids: Ids) -> None:
        """Delete the person and the note cabos made (the deal and the company are the business's records)."""
        raise NotImplementedError

    def cursor_at(self, moment: datetime) -> str:
        """``moment`` as a cursor value this CRM compares against."""
        raise NotImplementedError


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


class Http:
    """JSON over HTTPS with the CRM's pace: requests spaced, 429 waited out or raised as ``rate``.

    ``describe(status, body)`` turns an error answer into (kind, message in the CRM's words).
    """

    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _last: ClassVar[dict[str, float]] = {}

    def __init__(self, label: str, base_url: str, headers: Callable[[], dict[str, str]], timeout: float,
                 min_interval: float, describe: Callable[[int, Any], tuple[str, str]]) -> None:
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self.min_interval = min_interval
        self.describe = describe
        self._locks.setdefault(label, threading.Lock())

    def _pace(self) -> None:
        with self._locks[self.label]:  # per CRM and process: workers in threads share the budget
            wait = self._last.get(self.label, 0.0) + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last[self.label] = time.monotonic()

    def raw(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
            form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> Response:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        data = None
        head = {"Accept": "application/json", "User-Agent": "cabos-crm/1", **(headers or {})}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            head["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            head["Content-Type"] = "application/json"
        self._pace()
        request = urllib.request.Request(url, data=data, method=method, headers=head)
        try:
            with _opener.open(request, timeout=self.timeout) as answer:
                return Response(int(answer.status), _json(answer.read()), dict(answer.headers))
        except urllib.error.HTTPError as exc:
            return Response(int(exc.code), _json(exc.read()), dict(exc.headers or {}))
        except (OSError, ValueError) as exc:  # refused, reset, timeout, DNS, bad URL
            raise CrmError("temporary", f"{self.label} could not be reached ({type(exc).__name__}: {exc})",
                           fix="check the network and the CRM's address; cabos tries again later") from exc

    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
             form: Mapping[str, str] | None = None, ok: tuple[int, ...] = ()) -> Any:
        """The parsed JSON of a 2xx answer (or a status in ``ok``); anything else raises ``CrmError``."""
        for attempt in (1, 2):
            answer = self.raw(method, path, params, body, form, self.headers())
            if 200 <= answer.status < 300 or answer.status in ok:
                return answer.body
            if answer.status == 429:
                wait = retry_after(_header(answer.headers, "Retry-After"))
                if attempt == 1 and wait is not None and wait <= SHORT_WAIT:
                    time.sleep(wait)
                    continue
                raise CrmError("rate", f"{self.label} asked cabos to slow down (HTTP 429, rate limit)", 429,
                               wait if wait is not None else RATE_WAIT_DEFAULT,
                               fix="cabos waits as the CRM asked and sends again")
            kind, message = self.describe(answer.status, answer.body)
            raise CrmError(kind, message, answer.status, fix=FIXES.get(kind, ""))
        raise AssertionError("unreachable")


FIXES = {
    "auth": "the credentials are wrong, expired or lack a permission: see docs/crm.md and run `cabos crm test`",
    "config": "fix content/crm.yml (run `cabos crm test` to see the CRM's pipelines, stages and fields)",
    "rejected": "the CRM refused a field or value: fix the mapping in content/crm.yml, then Retry now",
    "temporary": "the CRM had a problem on its side; cabos tries again later",
}


def default_kind(status: int) -> str:
    """The usual meaning of an HTTP status for a CRM's REST API."""
    if status in (401, 403):
        return "auth"
    if status >= 500 or status == 408:
        return "temporary"
    return "rejected"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:500]


def cents(amount: Any) -> int | None:
    """A CRM amount (number or text, dot decimals) in cents; None when there is none."""
    if amount in (None, ""):
        return None
    try:
        return round(float(str(amount).replace(",", "")) * 100)
    except ValueError:
        return None
