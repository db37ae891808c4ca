"""One way to write numbers, money, dates and times for people: the site's language, the team's time zone.

Every staff page, chart, email and CSV goes through these functions (templates through the Jinja
filters ``init_app`` registers), so a Spanish site shows "1.234,5", "90,2 %", "13.000 €" and
"3 dic 2026, 6:28" everywhere (CSV files: "1234,5" in ';'-separated columns) and an English one "1,234.5", "90.2%", "€13,000" and
"Dec 3, 2026, 6:28 AM". Stored values (ISO dates, keys) stay machine-readable in attributes such
as ``<time datetime>``; only what a person reads is formatted.

Times are stored in UTC; they are shown in SALES_TIMEZONE (the team's zone, which Flask-Babel's
time zone selector returns), the zone the SLA counts in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC
from datetime import date as Date
from datetime import datetime as DateTime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_compact_decimal
from flask import Flask, current_app
from flask_babel import format_currency, format_date, format_decimal, format_percent, format_time, get_locale

NONE = "—"


def zone() -> ZoneInfo:
    """The team's time zone (SALES_TIMEZONE): where "today" and every shown time are."""
    return _zone(str(current_app.config.get("SALES_TIMEZONE") or "UTC"))


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@cache
def _patterns(locale: Locale) -> dict[str, str]:
    percent = locale.percent_formats[None].pattern.split(";")[0]
    currency = locale.currency_formats["standard"].pattern.split(";")[0]
    return {"percent": percent.replace("0", "0.#", 1) if ".#" not in percent else percent,
            "money_whole": currency.replace(".00", ""), "datetime": str(locale.datetime_formats["medium"])}


def number(value: float | Decimal | None, digits: int = 0) -> str:
    """A number with the locale's separators and exactly ``digits`` decimals: '1.234,5' / '1,234.5'."""
    if value is None:
        return NONE
    return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""))


def percent(rate: float | None) -> str:
    """A share (0.902) as the locale writes percentages, to one decimal at most: '90,2 %' / '90.2%'."""
    if rate is None:
        return NONE
    return format_percent(rate, format=_patterns(get_locale())["percent"])


def money(cents: float | int | None, currency: str | None, whole: bool = False) -> str:
    """An amount in cents in the locale's currency pattern: '13.000,00 €' / '€13,000.00' (``whole``: no cents)."""
    if cents is None:
        return NONE
    code = currency or "EUR"
    if whole:
        return format_currency(round(cents / 100), code, format=_patterns(get_locale())["money_whole"],
                               currency_digits=False)
    return format_currency(Decimal(int(cents)) / 100, code)


def date(value: Date | DateTime | None) -> str:
    """A day: '3 dic 2026' / 'Dec 3, 2026' (a datetime is first moved to the team's zone)."""
    if value is None:
        return NONE
    if isinstance(value, DateTime):
        value = _local(value).date()
    return format_date(value, "medium")


def month(value: Date | None) -> str:
    """A month, for chart axes: 'nov 2026' / 'Nov 2026'."""
    return NONE if value is None else format_skeleton("yMMM", value, locale=get_locale())


def day_month(value: Date | None) -> str:
    """A day without its year, for chart axes: '28 nov' / 'Nov 28'."""
    return NONE if value is None else format_skeleton("MMMd", value, locale=get_locale())


def compact(value: float) -> str:
    """An axis value, short: '1,5 mil' / '1.5K'."""
    return format_compact_decimal(value, fraction_digits=1, locale=get_locale())


def datetime(value: DateTime | None) -> str:
    """A moment in the team's zone: '3 dic 2026, 6:28' / 'Dec 3, 2026, 6:28 AM'."""
    if value is None:
        return NONE
    local = _local(value)
    return _patterns(get_locale())["datetime"].format(format_time(local.time(), "short", rebase=False), date(local.date()))


def time(value: DateTime | None) -> str:
    """The clock time of a moment in the team's zone: '6:28' / '6:28 AM'."""
    if value is None:
        return NONE
    return format_time(_local(value).time(), "short", rebase=False)


def _local(value: DateTime) -> DateTime:
    """A stored moment (UTC, naive or aware) in the team's zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone())


# -- spreadsheets -----------------------------------------------------------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_dialect() -> tuple[str, str]:
    """(delimiter, decimal separator) the locale's spreadsheet expects: ';' and ',' where the decimal is a comma."""
    decimal = get_locale().number_symbols["latn"]["decimal"]
    return (";", decimal) if decimal == "," else (",", decimal)


def csv_cell(value: Any, decimal: str = ".") -> Any:
    """A cell a spreadsheet reads as its own number and will not run as a formula.

    Numbers are written without grouping, with the locale's decimal separator (so they stay numbers);
    text starting with = + - @ (or tab, CR) gets a leading '.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, DateTime):
        return _local(value).strftime("%Y-%m-%d %H:%M")  # what spreadsheets read as a date and time
    if isinstance(value, Date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        text = format(value, "f") if isinstance(value, Decimal) else repr(value) if isinstance(value, float) else str(value)
        return text.replace(".", decimal)
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_text(head: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV in the locale's dialect, UTF-8 with a BOM (so Excel reads it as UTF-8), CRLF line ends."""
    delimiter, decimal = csv_dialect()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([csv_cell(h, decimal) for h in head])
    for row in rows:
        writer.writerow([csv_cell(v, decimal) for v in row])
    return out.getvalue()


def init_app(app: Flask) -> None:
    """The formats as Jinja filters: ``{{ x | number(1) }}``, ``| percent``, ``| money(cur)``, ``| date``, ``| datetime``, ``| time``."""
    app.jinja_env.filters.update(number=number, percent=percent, money=money, date=date, datetime=datetime,
                                 time=time, month=month)
