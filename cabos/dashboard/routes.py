"""The shared dashboard at /staff/dashboard: one page for marketing and sales, every table as CSV."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cabos import formats
from cabos.content import current_library
from cabos.dashboard import charts, display, tables
from cabos.dashboard.attribution import METHODS
from cabos.dashboard.content import SORTABLE, sort_rows
from cabos.dashboard.period import PRESETS, Period, from_args
from cabos.dashboard.report import Report, build
from cabos.db import get_session, utcnow
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section

ROLES = ("marketer", "sales")  # and admins: everyone on staff sees the same truth


def _choices() -> tuple[Period, str, str, str]:
    period, preset = from_args(request.args, utcnow().date())
    every = request.args.get("every")
    if every not in ("week", "month"):
        every = "week" if period.days <= 120 else "month"
    method = request.args.get("method")
    if method not in METHODS:
        method = "linear"
    return period, preset, every, method


def _report() -> tuple[Report, str, str]:
    period, preset, every, method = _choices()
    return build(get_session(), period, current_library(), utcnow(), every), preset, method


def _bucket_label(point: Any, every: str) -> str:
    return formats.month(point.start) if every == "month" else formats.day_month(point.start)


def _charts(report: Report, method: str) -> dict[str, Any]:
    f = report.funnel
    stages = [(display.label(display.STAGE_LABELS, s.key), s.count, display.integer(s.count)) for s in f.stages]
    period = _("%(start)s to %(end)s", start=formats.date(report.period.start), end=formats.date(report.period.end))
    labels = [_bucket_label(p, report.every) for p in report.series]
    readers_series = [(display.label(display.SERIES_LABELS, k), [p.values[k] for p in report.series])
                      for k in ("visitors", "engaged")]
    pipeline = [(display.label(display.SERIES_LABELS, k), [p.values[k] for p in report.series])
                for k in ("identified", "purchase", "handed_off", "won")]
    revenue = [p.values["revenue"] / 100 for p in report.series]
    lib = current_library()
    top_items = report.attribution.sorted_items(method)[:12]
    top_problems = report.attribution.sorted_problems(method)[:12]
    currency = report.attribution.currency
    return {
        "funnel": charts.funnel(stages, _("Funnel, %(period)s", period=period),
                                _("People at each stage: ") + "; ".join(f"{n}: {v}" for n, _c, v in stages)),
        "readers": charts.lines(readers_series, labels, _("Readers per %(every)s", every=_every_word(report.every)),
                                _("Visitors and engaged readers per %(every)s, %(period)s",
                                  every=_every_word(report.every), period=period)),
        "pipeline": charts.lines(pipeline, labels, _("Pipeline per %(every)s", every=_every_word(report.every)),
                                 _("Contacts identified, entering purchase mode, handed off and won per %(every)s, "
                                   "%(period)s", every=_every_word(report.every), period=period)),
        "revenue": charts.columns(revenue, labels, _("Revenue won per %(every)s", every=_every_word(report.every)),
                                  _("Revenue won per %(every)s in %(currency)s, %(period)s",
                                    every=_every_word(report.every), currency=currency, period=period),
                                  value_label=currency),
        "attribution": charts.bars(
            [(tables.title_of(lib, c.kind, c.key), c.cents[method] / 100, display.money(c.cents[method], currency))
             for c in top_items],
            _("Revenue by content and sequence (%(method)s)", method=display.label(display.METHOD_LABELS, method)),
            _("The contents and sequences with the most attributed revenue.")),
        "attribution_problems": charts.bars(
            [(tables.title_of(lib, "problem", c.key), c.cents[method] / 100, display.money(c.cents[method], currency))
             for c in top_problems],
            _("Revenue by problem (%(method)s)", method=display.label(display.METHOD_LABELS, method)),
            _("Attributed revenue per buyer problem.")),
    }


def _every_word(every: str) -> str:
    return _("month") if every == "month" else _("week")


@staff_required(*ROLES)
def index() -> str:
    report, preset, method = _report()
    sort = request.args.get("sort", "readings")
    if sort not in SORTABLE:
        sort = "readings"
    descending = request.args.get("dir", "desc") != "asc"
    content = report.content
    args = {k: v for k, v in request.args.items() if k in ("range", "from", "to", "every", "method")}
    return render_template(
        "dashboard/index.html", report=report, preset=preset, method=method, presets=list(PRESETS) + ["ytd"],
        charts=_charts(report, method), sort=sort, descending=descending, args=args,
        contents=sort_rows(content.contents, sort, descending), problems=sort_rows(content.problems, sort, descending),
        authors=sort_rows(content.authors, sort, descending), title_of=tables.title_of, lib=current_library(),
        csv_tables=list(tables.TABLES), **display.helpers())


@staff_required(*ROLES)
def table_csv(table: str) -> Response:
    builder = tables.TABLES.get(table)
    if builder is None:
        abort(404)
    report, _preset, _method = _report()
    body = tables.to_csv(builder(report, current_library()))
    name = f"cabos-{table}-{report.period.start.isoformat()}-{report.period.end.isoformat()}.csv"
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def sort_url(column: str, sort: str, descending: bool, args: dict[str, str]) -> str:
    """The link of a sortable column header: this column, flipping the order if it is the current one."""
    direction = "asc" if column == sort and descending else "desc"
    if column == "title" and column != sort:
        direction = "asc"
    return url_for("dashboard.index", **args, sort=column, dir=direction) + "#content"


def init_app(app: Flask) -> None:
    """Register /staff/dashboard and its place in the staff menu."""
    bp = Blueprint("dashboard", __name__, url_prefix="/staff/dashboard")
    bp.add_url_rule("/", "index", index)
    bp.add_url_rule("/<table>.csv", "table_csv", table_csv)
    app.register_blueprint(bp)
    app.jinja_env.globals["dashboard_sort_url"] = sort_url
    add_section(app, "dashboard.index", _l("Dashboard"), ROLES, order=5,
                description=_l("The shared funnel, attribution, content and people, in revenue"))
