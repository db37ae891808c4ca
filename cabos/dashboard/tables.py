"""Every dashboard table as plain rows: what each CSV download holds (the page shows the same figures)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from cabos import formats
from cabos.content import Library
from cabos.dashboard import display
from cabos.dashboard.attribution import METHODS
from cabos.dashboard.campaigns import METRICS as CAMPAIGN_METRICS
from cabos.dashboard.campaigns import CampaignRow
from cabos.dashboard.content import Performance
from cabos.dashboard.metrics import PersonRow
from cabos.dashboard.report import Report

Table = tuple[list[str], list[list[Any]]]


def title_of(library: Library, kind: str, key: str) -> str:
    """The content's title, the problem's name, or the key itself (sequences, removed content)."""
    if kind == "problem":
        problem = library.problems.get(key)
        return problem.name if problem is not None else (key or _("(no problem read)"))
    if kind in ("article", "guide", "page"):
        doc = library.document(kind, key)  # type: ignore[arg-type]
        return doc.title if doc is not None else key
    return key


def _money(cents: float) -> Decimal:
    """Currency units as a number the spreadsheet can add up (written in the locale's dialect)."""
    return (Decimal(round(cents)) / 100).quantize(Decimal("0.01"))


def funnel(report: Report, library: Library) -> Table:
    head = [_("Stage"), _("People"), _("Conversion from previous stage"), _("Median hours from previous stage"),
            _("People timed")]
    rows = [[display.label(display.STAGE_LABELS, s.key), s.count,
             None if s.conversion is None else round(s.conversion, 4), display.hours(s.median_time), s.timed]
            for s in report.funnel.stages]
    rows.append([_("Revenue won (%(currency)s)", currency=report.funnel.currency), _money(report.funnel.revenue_cents),
                 None, None, None])
    return head, rows


def series(report: Report, library: Library) -> Table:
    keys = ("visitors", "engaged", "identified", "purchase", "handed_off", "won")
    head = [_("From"), _("To"), *[display.label(display.SERIES_LABELS, k) for k in keys],
            _("Revenue (%(currency)s)", currency=report.funnel.currency)]
    rows = [[p.start, p.end, *[p.values[k] for k in keys], _money(p.values["revenue"])]
            for p in report.series]
    return head, rows


def attribution(report: Report, library: Library) -> Table:
    a = report.attribution
    head = [_("Type"), _("Key"), _("Title"), *[f"{display.label(display.METHOD_LABELS, m)} ({a.currency})"
                                              for m in METHODS], _("Won deals touched")]
    rows = [[display.label(display.KIND_LABELS, c.kind), c.key, title_of(library, c.kind, c.key),
             *[_money(c.cents[m]) for m in METHODS], c.deals] for c in a.sorted_items("linear")]
    if a.unattributed_cents:
        rows.append([_("Unattributed"), "", _("Deals with no touch on the trail"),
                     *[_money(a.unattributed_cents) for _m in METHODS], ""])
    return head, rows


def attribution_problems(report: Report, library: Library) -> Table:
    a = report.attribution
    head = [_("Problem"), _("Name"), *[f"{display.label(display.METHOD_LABELS, m)} ({a.currency})" for m in METHODS],
            _("Won deals touched")]
    rows = [[c.key, title_of(library, "problem", c.key), *[_money(c.cents[m]) for m in METHODS], c.deals]
            for c in a.sorted_problems("linear")]
    if a.unattributed_cents:
        rows.append(["", _("Unattributed"), *[_money(a.unattributed_cents) for _m in METHODS], ""])
    return head, rows


def conversion_pages(report: Report, library: Library) -> Table:
    a = report.attribution
    head = [_("Page"), _("Title"), *[f"{display.label(display.METHOD_LABELS, m)} ({a.currency})" for m in METHODS],
            _("Won deals touched")]
    return head, [[c.key, title_of(library, c.kind, c.key), *[_money(c.cents[m]) for m in METHODS], c.deals]
                  for c in a.conversion_pages("linear")]


def _campaigns(rows: Sequence[CampaignRow], currency: str) -> Table:
    head = [_("Source"), _("Medium"), _("Campaign"), *[display.label(display.CAMPAIGN_LABELS, k)
                                                       for k in CAMPAIGN_METRICS],
            _("Revenue won (%(currency)s)", currency=currency)]
    return head, [[r.source, r.medium, r.campaign, *[r.counts[k] for k in CAMPAIGN_METRICS], _money(r.revenue_cents)]
                  for r in rows]


def campaigns_first(report: Report, library: Library) -> Table:
    return _campaigns(report.campaigns.first, report.campaigns.currency)


def campaigns_last(report: Report, library: Library) -> Table:
    return _campaigns(report.campaigns.last, report.campaigns.currency)


def _performance(rows: Iterable[Performance], currency: str, first: str) -> Table:
    head = [first, _("Key"), _("Title"), _("Readings"), _("Median engaged seconds"), _("Read to the end"),
            _("Downloads"), _("Contacts identified after reading"), _("Contacts who read it before purchase mode"),
            _("Revenue influenced (%(currency)s)", currency=currency)]
    out = []
    for r in rows:
        median = r.stats.median_seconds
        rate = r.stats.read_to_end_rate
        out.append([display.label(display.KIND_LABELS, r.kind), r.key, r.title, r.stats.readings,
                    None if median is None else round(median, 1), None if rate is None else round(rate, 4),
                    r.downloads, r.identified, r.before_purchase, _money(r.revenue_cents)])
    return head, out


def content(report: Report, library: Library) -> Table:
    rows = sorted(report.content.contents, key=lambda r: (-r.stats.readings, r.title.lower()))
    return _performance(rows, report.content.currency, _("Type"))


def problems(report: Report, library: Library) -> Table:
    rows = sorted(report.content.problems, key=lambda r: (-r.stats.readings, r.title.lower()))
    return _performance(rows, report.content.currency, _("Type"))


def authors(report: Report, library: Library) -> Table:
    rows = sorted(report.content.authors, key=lambda r: (-r.stats.readings, r.title.lower()))
    return _performance(rows, report.content.currency, _("Type"))


def _person(r: PersonRow, name: str) -> list[Any]:
    reasons = "; ".join(f"{reason or _('(no reason)')}: {n}" for reason, n in r.sent_back_reasons.most_common())
    return [name, r.received, display.hours(r.median_response), r.within_sla, r.sla_due, r.accepted, r.sent_back,
            reasons, r.disqualified, r.won, r.lost, _money(r.revenue_cents)]


def people(report: Report, library: Library) -> Table:
    p = report.people
    head = [_("Salesperson"), _("Handoffs received"), _("Median first response (hours)"), _("Answered within SLA"),
            _("Due for the SLA"), _("Accepted"), _("Sent back"), _("Reasons sent back"), _("Disqualified"), _("Won"), _("Lost"),
            _("Revenue (%(currency)s)", currency=p.currency)]
    rows = [_person(r, r.name or _("(unassigned)")) for r in p.sales]
    rows.append(_person(p.team, _("Team")))
    return head, rows


def _reasons(counts: Sequence[Any], by: str) -> Table:
    head = [_("Outcome"), _("Reason"), by, _("Handoffs")]
    return head, [[display.label(display.OUTCOME_LABELS, c.kind), c.reason, c.by, c.count] for c in counts]


def closed_loop_source(report: Report, library: Library) -> Table:
    return _reasons(report.people.by_source, _("Source"))


def closed_loop_problem(report: Report, library: Library) -> Table:
    head, rows = _reasons(report.people.by_problem, _("Problem"))
    for row in rows:
        row[2] = title_of(library, "problem", row[2]) if row[2] else ""
    return head, rows


TABLES: dict[str, Callable[[Report, Library], Table]] = {
    "funnel": funnel,
    "series": series,
    "attribution": attribution,
    "attribution-problems": attribution_problems,
    "conversion-pages": conversion_pages,
    "campaigns-first-touch": campaigns_first,
    "campaigns-last-touch": campaigns_last,
    "content": content,
    "problems": problems,
    "authors": authors,
    "people": people,
    "sent-back-by-source": closed_loop_source,
    "sent-back-by-problem": closed_loop_problem,
}

def to_csv(table: Table) -> str:
    """The table as the locale's spreadsheet opens it (see ``formats.csv_text``)."""
    head, rows = table
    return formats.csv_text(head, rows)
