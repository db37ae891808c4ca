"""Names and number formats the dashboard shows (translated; the CSV uses the same words)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from cabos import formats

STAGE_LABELS = {
    "visitors": _l("Visitors"),
    "engaged": _l("Engaged readers"),
    "identified": _l("Identified contacts"),
    "purchase": _l("Entered purchase mode"),
    "handed_off": _l("Handed off to sales"),
    "accepted": _l("Accepted by sales"),
    "won": _l("Won"),
}
STAGE_HELP = {
    "visitors": _l("Browsers that read at least one page in the period (tracked readers only)."),
    "engaged": _l("Visitors with at least one reading of 30 seconds of attention or more."),
    "identified": _l("Contacts created in the period: people who filled in a form for the first time."),
    "purchase": _l("Contacts whose intent changed to purchase mode in the period."),
    "handed_off": _l("Contacts handed off to sales in the period."),
    "accepted": _l("Contacts whose handoff sales accepted in the period."),
    "won": _l("Contacts with a deal won in the period."),
}
SERIES_LABELS = {**STAGE_LABELS, "revenue": _l("Revenue")}
METHOD_LABELS = {"first": _l("First touch"), "last": _l("Last touch"), "linear": _l("Linear")}
METHOD_HELP = {
    "first": _l("All of a deal's revenue goes to the first touch on the contact's trail."),
    "last": _l("All of a deal's revenue goes to the last touch before the handoff to sales "
               "(or before the win, if nothing came before the handoff)."),
    "linear": _l("A deal's revenue is split evenly among all its touches before the win."),
}
KIND_LABELS = {"article": _l("Article"), "page": _l("Page"), "guide": _l("Guide"), "sequence": _l("Sequence"),
               "problem": _l("Problem"), "author": _l("Author")}
OUTCOME_LABELS = {"sent_back": _l("Sent back"), "disqualified": _l("Disqualified")}
CAMPAIGN_LABELS = {"visitors": _l("Visitors"), "engaged": _l("Engaged readers"), "contacts": _l("Contacts"),
                   "purchase": _l("Purchase mode"), "handoffs": _l("Handoffs"), "won": _l("Won")}


def label(mapping: dict[str, Any], key: str) -> str:
    return str(mapping.get(key, key))


def integer(value: int | None) -> str:
    return formats.number(value)


def percent(rate: float | None) -> str:
    return formats.percent(rate)


def money(cents: float | None, currency: str) -> str:
    """Whole units in the locale's currency pattern: '€13,000', '13.000 €'."""
    return formats.money(cents, currency, whole=True)


def seconds(value: float | None) -> str:
    """Engaged time: '45 s', '3 min 05 s'."""
    if value is None:
        return "—"
    total = int(round(value))
    if total < 60:
        return gettext("%(s)d s", s=total)
    return gettext("%(m)d min %(s)02d s", m=total // 60, s=total % 60)


def duration(value: timedelta | None) -> str:
    """Time between stages, to a sensible precision: '40 min', '5 h 20 min', '3 d 4 h'."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return gettext("%(m)d min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return gettext("%(h)d h %(m)d min", h=hours, m=minutes)
    days, hours = divmod(hours, 24)
    return gettext("%(d)d d %(h)d h", d=days, h=hours)


def hours(value: timedelta | None) -> float | None:
    """A duration as hours with one decimal, for the CSV."""
    return None if value is None else round(value.total_seconds() / 3600, 1)


def helpers() -> dict[str, Any]:
    """What the dashboard templates call."""
    return {"dash_integer": integer, "dash_percent": percent, "dash_money": money, "dash_seconds": seconds,
            "dash_duration": duration, "dash_label": label, "STAGE_LABELS": STAGE_LABELS, "STAGE_HELP": STAGE_HELP,
            "SERIES_LABELS": SERIES_LABELS, "METHOD_LABELS": METHOD_LABELS, "METHOD_HELP": METHOD_HELP,
            "KIND_LABELS": KIND_LABELS, "OUTCOME_LABELS": OUTCOME_LABELS, "CAMPAIGN_LABELS": CAMPAIGN_LABELS}
