"""An assessment in plain words a salesperson trusts, in the site's language.

"Purchase mode: score 27 (20 needed) and 2 recent readings at the «Elegir una
solución» stage"; "read 3 articles at the «Elegir una solución» stage on «El
inventario no cuadra» in the last 7 days, 14 minutes engaged"; "visitó la página
de precios (2 times)"; "fit A (65 points): …". Everything comes from the stored
evidence, so what is said is exactly what was counted.
"""

from __future__ import annotations

import math
from datetime import datetime

from flask_babel import format_decimal, gettext, ngettext

from cabos.content.library import Library
from cabos.intent.scoring import PURCHASE, Assessment, Item
from cabos.intent.rules import Rules


def num(value: float) -> str:
    return format_decimal(round(value, 1), format="#,##0.#")


def _minutes(ms: int) -> str:
    minutes = round(ms / 60000)
    if minutes < 1:
        return gettext("under a minute engaged")
    return ngettext("%(num)d minute engaged", "%(num)d minutes engaged", minutes)


def _days_ago(then: datetime, now: datetime) -> str:
    days = int((now - then).total_seconds() // 86400)
    if days < 1:
        return gettext("today")
    return ngettext("%(num)d day ago", "%(num)d days ago", days)


def _stage_names(stages: frozenset[str] | tuple[str, ...], library: Library) -> str:
    ordered = [s for s in library.site.stage_slugs if s in stages] or sorted(stages)
    return ", ".join(f"«{library.stage_name(s)}»" for s in ordered)


def mode_reason(a: Assessment, rules: Rules, library: Library) -> str:
    """Why the mode is what it is: the request or the evidence that entered, the pattern that kept it out, the exit."""
    stages = _stage_names(rules.evidence_stages, library)
    why = a.why or {}
    if a.mode == PURCHASE:
        request = why.get("request") if why.get("entry") != "hand_raise" else why
        if request:
            return _request(request)
        text = ngettext("Purchase mode: score %(score)s (%(threshold)s needed) and %(num)d recent reading at "
                        "the %(stages)s stage", "Purchase mode: score %(score)s (%(threshold)s needed) and "
                        "%(num)d recent readings at the %(stages)s stage", a.evidence_count,
                        score=num(a.score), threshold=num(why.get("threshold", rules.threshold)), stages=stages)
        path = why.get("path")
        if path:
            text += "; " + path_phrase(path, library)
        corroborated = why.get("corroborated")
        if corroborated:
            text += "; " + gettext("in the same visit: %(signal)s", signal=corroborated.get("signal"))
        return text
    if why.get("excluded"):
        return gettext("Information mode: excluded (%(what)s), whatever they read", what=", ".join(why["excluded"]))
    pattern = why.get("pattern")
    if pattern == "focus":
        minutes = int(why.get("minutes") or 0)
        if minutes >= 1440:
            return gettext("Information mode: read %(pieces)s pieces on %(problems)s problems in %(days)s days: "
                           "researching, not choosing", pieces=why.get("pieces"), problems=why.get("problems"),
                           days=round(minutes / 1440))
        return gettext("Information mode: read %(pieces)s pieces on %(problems)s problems in %(minutes)s minutes: "
                       "researching, not choosing", pieces=why.get("pieces"), problems=why.get("problems"),
                       minutes=minutes)
    if pattern == "pace":
        return gettext("Information mode: skimmed %(skimmed)s of %(pieces)s pieces in one visit of %(minutes)s "
                       "minutes: scanning, not choosing", skimmed=why.get("skimmed"), pieces=why.get("pieces"),
                       minutes=why.get("minutes"))
    if why.get("exit") == "outcome":
        return gettext("Information mode: sales closed the handoff (%(outcome)s%(reason)s); new evidence brings "
                       "them back", outcome=why.get("outcome"),
                       reason=f": {why['reason']}" if why.get("reason") else "")
    if why.get("exit") == "silence":
        return gettext("Information mode: no hand-raiser activity for %(days)s days", days=num(rules.exit.silence_days))
    if a.score < rules.threshold:
        return gettext("Information mode: score %(score)s, %(threshold)s needed for purchase mode",
                       score=num(a.score), threshold=num(rules.threshold))
    return ngettext("Information mode: score %(score)s reaches %(threshold)s, but there is no recent reading at "
                    "the %(stages)s stage (%(num)d needed in %(days)s days)",
                    "Information mode: score %(score)s reaches %(threshold)s, but there are too few recent "
                    "readings at the %(stages)s stage (%(num)d needed in %(days)s days)",
                    rules.evidence_min_readings, score=num(a.score), threshold=num(rules.threshold),
                    stages=stages, days=num(rules.evidence_days))


def _request(request: dict) -> str:  # type: ignore[type-arg]
    message = " ".join(str(request.get("message") or "").split())
    if len(message) > 160:
        message = message[:157] + "…"
    if request.get("kind") == "demo":
        text = gettext("Purchase mode: asked for a demo")
    else:
        text = gettext("Purchase mode: asked to talk to sales")
    return f"{text}: «{message}»" if message else text


def path_phrase(path: dict, library: Library) -> str:  # type: ignore[type-arg]
    """'went from «Entender» to «Elegir» on «El inventario no cuadra» over 3 days'."""
    problem = path.get("problem")
    name = library.problems[problem].name if problem in library.problems else problem
    stages = [library.stage_name(s) for s in path.get("stages") or ()]
    return gettext("went from «%(first)s» to «%(last)s» on «%(problem)s» over %(days)s days",
                   first=stages[0] if stages else "", last=stages[-1] if stages else "", problem=name,
                   days=path.get("days"))


def fit_reason(a: Assessment, rules: Rules) -> str:
    """The grade and the fit rules that gave it."""
    if a.grade is None:
        return gettext("Anonymous visitor: no grade")
    if not rules.fit_rules:
        return gettext("Fit %(grade)s: intent.yml has no fit rules, so every contact fits", grade=a.grade)
    if a.excluded:
        return gettext("Fit %(grade)s, excluded: %(what)s", grade=a.grade,
                       what="; ".join(f"{m.label or m.field} «{m.value}»" for m in a.excluded))
    parts = [f"{m.label or m.field} «{m.value}» ({'+' if m.points >= 0 else ''}{num(m.points)})" for m in a.fit]
    if not parts:
        return gettext("Fit %(grade)s (0 points): no fit rule matches", grade=a.grade)
    return gettext("Fit %(grade)s (%(points)s points): %(rules)s", grade=a.grade, points=num(a.fit_points or 0),
                   rules="; ".join(parts))


def reading_phrases(a: Assessment, rules: Rules, library: Library, problems: int = 3) -> list[str]:
    """What they read, grouped by problem and stage (furthest stage first), then the signals."""
    now = a.as_of
    lines: list[str] = []
    for problem, _value in a.interest[:problems]:
        name = library.problems[problem].name if problem in library.problems else problem
        on_problem = [i for i in a.items if problem in i.problems and i.kind != "page"]
        for stage in reversed(rules.stages):
            group = [i for i in on_problem if i.stage == stage]
            if not group:
                continue
            days = max(1, math.ceil((now - min(i.last_at for i in group)).total_seconds() / 86400))
            lines.append(ngettext(
                "read %(num)d piece at the «%(stage)s» stage on «%(problem)s» in the last %(days)d days, "
                "%(engaged)s",
                "read %(num)d pieces at the «%(stage)s» stage on «%(problem)s» in the last %(days)d days, "
                "%(engaged)s", len(group), stage=library.stage_name(stage), problem=name, days=days,
                engaged=_minutes(sum(i.engaged_ms for i in group))))
    for item in a.items:
        if item.kind == "form":
            continue  # a request: the mode's reason says it
        if item.points > 0:
            lines.append(ngettext("%(label)s (%(num)d time)", "%(label)s (%(num)d times)", item.visits,
                                  label=rules.signals[(item.kind, item.slug)].label
                                  if (item.kind, item.slug) in rules.signals else item.slug))
    return lines


def summary(a: Assessment, rules: Rules, library: Library) -> list[str]:
    """The explanation: mode and why, what they read, the signals, the fit."""
    return [mode_reason(a, rules, library), *reading_phrases(a, rules, library), fit_reason(a, rules)]


def title_of(item: Item, library: Library) -> str:
    doc = library.document(item.kind, item.slug) if item.kind in ("article", "guide", "page") else None  # type: ignore[arg-type]
    return doc.title if doc else item.slug


def item_line(item: Item, library: Library, now: datetime) -> str:
    """One contributing piece of content: how often, how long, how recent, how much it adds."""
    visits = ngettext("%(num)d visit", "%(num)d visits", item.visits)
    where = ", ".join(x for x in (library.stage_name(item.stage) if item.stage else "",
                                  *(library.problems[p].name if p in library.problems else p
                                    for p in item.problems)) if x)
    line = gettext("«%(title)s» (%(where)s): %(visits)s, %(engaged)s, last %(ago)s: +%(value)s",
                   title=title_of(item, library), where=where or item.kind, visits=visits,
                   engaged=_minutes(item.engaged_ms), ago=_days_ago(item.last_at, now), value=num(item.value))
    return line


def details(a: Assessment, library: Library) -> list[str]:
    """Every contributing item, most valuable first."""
    return [item_line(i, library, a.as_of) for i in a.items]


def describe_change(kind: str, from_value: str | None, to_value: str | None, at: datetime, cause: str) -> str:
    """'entered purchase mode on 2026-11-28 10:15 (activity)' and the like."""
    when = at.strftime("%Y-%m-%d %H:%M")
    causes = {"activity": gettext("new activity"), "decay": gettext("no recent activity"),
              "rules": gettext("intent.yml changed")}
    why = causes.get(cause, cause)
    if kind == "mode":
        if to_value == PURCHASE:
            return gettext("entered purchase mode on %(when)s (%(why)s)", when=when, why=why)
        return gettext("returned to information mode on %(when)s (%(why)s)", when=when, why=why)
    if from_value is None:
        return gettext("graded %(grade)s on %(when)s (%(why)s)", grade=to_value, when=when, why=why)
    return gettext("grade changed from %(old)s to %(new)s on %(when)s (%(why)s)", old=from_value, new=to_value,
                   when=when, why=why)
