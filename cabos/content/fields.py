"""Front matter normalised through a small table of processors.

Each processor takes the raw value and returns the clean one, or raises
``FieldProblem`` with words a marketer understands. A missing field either
gets a default (with a warning, when cabos really needs it) or is an error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from cabos.content.model import FormField

HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
BUILTIN_FORM_FIELDS = ("company", "role", "company_size", "country")
ALWAYS_ASKED = ("name", "email")


class FieldProblem(ValueError):
    def __init__(self, message: str, severity: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.severity = severity


def text(value: Any, limit: int = 500) -> str:
    if isinstance(value, (dict, list)):
        raise FieldProblem("must be text, not a list or mapping")
    value = "" if value is None else str(value).strip()
    if len(value) > limit:
        raise FieldProblem(f"is {len(value)} characters long; keep it under {limit}")
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "false", "no", "0", ""}:
        return value.strip().lower() in {"true", "yes", "1"}
    raise FieldProblem(f"must be true or false, not {value!r}")


def a_date(value: Any) -> date | None:
    """Dates as YAML dates, datetimes, or strings in the usual blog formats."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        raw = value.strip()
        # Jekyll writes '2024-03-01 10:00:00 +0100'; Hugo writes ISO 8601.
        candidate = re.sub(r"\s+([+-]\d{2}):?(\d{2})$", r"\1:\2", raw).replace(" ", "T", 1)
        for parse in (date.fromisoformat, lambda s: datetime.fromisoformat(s).date(),
                      lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z").date()):
            try:
                return parse(candidate)
            except ValueError:
                continue
    raise FieldProblem(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01")


def a_moment(value: Any) -> datetime | None:
    """A moment in UTC: a date (its start), a datetime, or ISO 8601 text; no offset means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        raw = re.sub(r"\s+([+-]\d{2}):?(\d{2})$", r"\1:\2", value.strip()).replace(" ", "T", 1)
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise FieldProblem(f"{value!r} is not a moment; write it as YYYY-MM-DD HH:MM, "
                               "e.g. 2026-03-01 09:00 (UTC) or 2026-03-01 09:00 +01:00") from None
    else:
        raise FieldProblem(f"{value!r} is not a moment; write it as YYYY-MM-DD HH:MM, e.g. 2026-03-01 09:00")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def slug_list(value: Any) -> tuple[str, ...]:
    """A list of slugs; a single string or 'a, b' is accepted too."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list):
        raise FieldProblem("must be a list of slugs, e.g. [inventory, costs]")
    return tuple(str(v).strip() for v in value)


def colour(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if not HEX_COLOUR.match(value):
        raise FieldProblem(f"{value!r} is not a colour; write it as #rrggbb, e.g. #0f4c5c")
    return value


ORIGIN_HOST = re.compile(r"^(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d{1,5})?$")


def origins(value: Any) -> tuple[str, ...]:
    """A list of https origins (``https://host``, ``https://*.host``), for the Content-Security-Policy."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise FieldProblem("must be a list of addresses, e.g. [https://www.youtube-nocookie.com]")
    out = []
    for item in value:
        raw = text(item, 200)
        parts = urlsplit(raw.lower())
        if parts.scheme != "https" or not ORIGIN_HOST.match(parts.netloc) or parts.path not in ("", "/") \
                or parts.query or parts.fragment:
            raise FieldProblem(f"{raw!r} is not a site address like https://www.youtube-nocookie.com "
                               "(https, a host name, nothing after it)")
        out.append(f"https://{parts.netloc}")
    return tuple(dict.fromkeys(out))


def slug(value: Any) -> str:
    value = text(value, 200)
    if not SLUG.match(value):
        raise FieldProblem(
            f"{value!r} is not a valid slug; use lowercase letters, digits and hyphens, e.g. my-article"
        )
    return value


def form_fields(value: Any) -> tuple[FormField, ...]:
    """The lead form's extra fields: built-in names or custom {name, label, choices}."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = value.get("fields", [])
    if not isinstance(value, list):
        raise FieldProblem("form.fields must be a list, e.g. [company, role]")
    fields: list[FormField] = []
    for item in value:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise FieldProblem(f"form field {item!r} needs a name")
        name = str(item["name"]).strip()
        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name):
            raise FieldProblem(f"form field name {name!r} must be lowercase letters, digits and _")
        if name in ALWAYS_ASKED:
            continue  # always asked anyway
        builtin = name in BUILTIN_FORM_FIELDS
        if not builtin and not item.get("label"):
            raise FieldProblem(f"custom form field {name!r} needs a label")
        choices = item.get("choices") or ()
        if not isinstance(choices, (list, tuple)):
            raise FieldProblem(f"choices of form field {name!r} must be a list")
        fields.append(FormField(
            name=name,
            label=text(item.get("label") or "", 100),
            required=boolean(item.get("required", False)),
            choices=tuple(str(c) for c in choices),
            builtin=builtin,
        ))
    if len({f.name for f in fields}) != len(fields):
        raise FieldProblem("a form field is listed twice")
    return tuple(fields)
