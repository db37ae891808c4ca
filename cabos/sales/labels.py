"""Words and formats of the staff pages: status, outcome and event names, times in the team's zone.

A contact page shows hundreds of labels and times; translating each one through
Flask-Babel costs more than the database does, so the words are resolved once per
request (``words()``) and looked up in plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, g
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

from cabos import formats

STATUS = {"open": _l("Open"), "new": _l("New"), "accepted": _l("Accepted"), "overdue": _l("Overdue"),
          "closed": _l("Closed"), "all": _l("All"), "sent_back": _l("Sent back to nurture"),
          "disqualified": _l("Disqualified"), "won": _l("Won"), "lost": _l("Lost")}
OUTCOME = {"accepted": _l("Accept"), "sent_back": _l("Send back to nurture"), "disqualified": _l("Disqualify"),
           "won": _l("Won"), "lost": _l("Lost")}
SORT = {"hot": _l("Hottest first"), "waiting": _l("Longest waiting"), "due": _l("Due soonest"),
        "newest": _l("Newest first")}
MODE = {"information": _l("Information mode"), "purchase": _l("Purchase mode")}
DELIVERY = {"all": _l("All"), "pending": _l("Pending"), "delivered": _l("Delivered"), "failed": _l("Failed"),
            "in_doubt": _l("In doubt (the push stopped half-way; it is retried safely)")}
CAUSE = {"activity": _l("new activity"), "decay": _l("no recent activity"), "rules": _l("intent.yml changed")}
TOUCH = {"source": _l("Source"), "medium": _l("Medium"), "campaign": _l("Campaign"), "term": _l("Term"),
         "content": _l("Content"), "referrer": _l("Referrer")}
EVENT = {"reading": _l("Read"), "form_submit": _l("Form"), "download": _l("Download"), "email_sent": _l("Email sent"),
         "email_click": _l("Email click"), "mode_change": _l("Mode"), "grade_change": _l("Grade"),
         "handoff": _l("Handed off"), "outcome": _l("Outcome"), "merge": _l("Identified"), "consent": _l("Consent"),
         "activity": _l("Sales"), "hand_raise": _l("Asked for sales")}
STAGE = {"lead": _l("Lead"), "handed_off": _l("Handed off"), "accepted": _l("Accepted"), "customer": _l("Customer"),
         "nurture": _l("Back in nurture"), "disqualified": _l("Disqualified")}
ACTIVITY = {"note": _l("Note"), "call": _l("Call"), "meeting": _l("Meeting"), "email": _l("Email")}


@dataclass(frozen=True)
class Words:
    tables: dict[str, dict[str, str]]
    seconds: str
    minutes_one: str
    minutes_many: str
    visit_one: str
    visits_many: str
    read_share: str  # "read {share}"
    shown: dict[tuple[str, datetime], str] = field(default_factory=dict)  # times formatted, to the minute

    def label(self, table: str, key: str | None) -> str:
        return self.tables[table].get(key or "", key or "")

    def minutes(self, ms: int | None) -> str:
        m = round((ms or 0) / 60000)
        if m < 1:
            return self.seconds % {"num": round((ms or 0) / 1000)}
        return (self.minutes_one if m == 1 else self.minutes_many) % {"num": m}

    def visits(self, n: int) -> str:
        return (self.visit_one if n == 1 else self.visits_many) % {"num": n}

    def read(self, share: float) -> str:
        return self.read_share.replace("\x00", formats.percent(round(share, 2)))

    def clock(self, value: datetime) -> str:
        return self._once("clock", value, formats.time)

    def day(self, value: datetime) -> str:
        return self._once("day", value, formats.datetime)

    def _once(self, kind: str, value: datetime, format: Callable[[datetime], str]) -> str:
        """Times are shown to the minute: Babel formats each minute once a request (a trail repeats them)."""
        minute = value.replace(second=0, microsecond=0)
        found = self.shown.get((kind, minute))
        if found is None:
            found = self.shown[(kind, minute)] = format(minute)
        return found


def words() -> Words:
    """This request's words, translated once."""
    found: Words | None = g.get("_sales_words")
    if found is None:
        tables = {name: {k: str(v) for k, v in table.items()} for name, table in
                  (("status", STATUS), ("outcome", OUTCOME), ("sort", SORT), ("mode", MODE),
                   ("delivery", DELIVERY), ("event", EVENT), ("cause", CAUSE), ("touch", TOUCH),
                   ("stage", STAGE), ("activity", ACTIVITY))}
        # ngettext picks the plural form; the number goes in afterwards.
        found = Words(tables, gettext("%(num)d s", num=0).replace("0", "%(num)d", 1),
                      ngettext("%(num)d min", "%(num)d min", 1).replace("1", "%(num)d", 1),
                      ngettext("%(num)d min", "%(num)d min", 2).replace("2", "%(num)d", 1),
                      ngettext("%(num)d visit", "%(num)d visits", 1).replace("1", "%(num)d", 1),
                      ngettext("%(num)d visit", "%(num)d visits", 2).replace("2", "%(num)d", 1),
                      gettext("read %(share)s", share="\x00"))
        g._sales_words = found
    return found


def staff_time(value: datetime | None) -> str:
    """A date and time in the sales team's zone, in the site's language."""
    return "" if value is None else formats.datetime(value)


def money(cents: int | None, currency: str | None) -> str:
    return "" if cents is None else formats.money(cents, currency)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(staff_time=staff_time, staff_clock=lambda v: words().clock(v),
                                 staff_day=lambda v: words().day(v))
    app.jinja_env.globals.update(
        status_label=lambda k: words().label("status", k), outcome_label=lambda k: words().label("outcome", k),
        sort_label=lambda k: words().label("sort", k), mode_label=lambda k: words().label("mode", k),
        delivery_label=lambda k: words().label("delivery", k), event_label=lambda k: words().label("event", k),
        cause_label=lambda k: words().label("cause", k), touch_label=lambda k: words().label("touch", k),
        stage_label=lambda k: words().label("stage", k), activity_label=lambda k: words().label("activity", k),
        minutes=lambda ms: words().minutes(ms), visits=lambda n: words().visits(n), money=money, words=words)
