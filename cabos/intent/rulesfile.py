"""Read and check intent.yml: every mistake an Issue naming file, line and key.

``load_rules(root, library)`` checks the file against the library it belongs
to: stages from site.yml, content slugs for strong signals, contact fields plus
the custom fields of guide forms for fit rules, and whether thresholds can be
reached at all. ``RulesExtension`` plugs it into the content loader and keeps
the last valid rules when the file breaks.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cabos.content.library import Library
from cabos.content.model import Issue
from cabos.content.yamlfile import KeyChecker, key_name, read_yaml
from cabos.content.yamlfile import KeyPath as Path_
from cabos.intent.rules import (
    CONDITIONS,
    CONTENT_KINDS,
    DEFAULT_CURVE,
    DEFAULTS,
    FILE,
    Exit,
    Patterns,
    GRADES,
    SECTION,
    FitRule,
    Rules,
    Signal,
    finish_rules,
    contact_fields,
    default_rules,
    default_weight,
    fold,
    max_fit_points,
)

# --- the file ----------------------------------------------------------------------------


class Checker(KeyChecker):
    """Collects issues for intent.yml, each with its line and key; also checks numbers."""

    root: Path | None = None  # the content folder: where list files (listed_in) are read from

    def number(self, data: dict[str, Any], key: str, path: Path_, default: float, *, low: float | None = None,
               high: float | None = None, above: float | None = None, integer: bool = False) -> float:
        if key not in data or data[key] is None:
            return default
        value, where = data[key], (*path, key)
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.error(where, f"{key_name(where)} must be {kind}, e.g. {_example(default)}, not {value!r}")
            return default
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high) \
                or (above is not None and value <= above):
            bounds = " and ".join(b for b in (f"at least {low:g}" if low is not None else "",
                                              f"at most {high:g}" if high is not None else "",
                                              f"more than {above:g}" if above is not None else "") if b)
            self.error(where, f"{key_name(where)} must be {bounds}, not {value!r}")
            return default
        return float(value)


def _example(default: float) -> str:
    return f"{default:g}"


TOP = ("stages", "engagement", "half_life_days", "signals", "purchase_mode", "patterns", "fit", "handoff")
DOMAIN_FIELDS = ("email_domain",)
_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def load_rules(root: Path, library: Library) -> tuple[Rules | None, list[Issue]]:
    """Read and check ``intent.yml``; None (with issues) if it has errors, defaults if it is absent."""
    path = Path(root) / FILE
    if not path.exists():
        return default_rules(library), []
    return load_rules_file(path, library, FILE)


def load_rules_file(path: Path, library: Library, name: str | None = None,
                    content_root: Path | None = None) -> tuple[Rules | None, list[Issue]]:
    """Read and check one rules file (intent.yml, or a candidate for ``cabos intent replay``).

    List files (``listed_in``) are read from ``content_root`` (default: the rules file's folder)."""
    name = name or str(path)
    data, lines, unreadable = read_yaml(path, name)
    if unreadable:
        return None, unreadable
    c = Checker(name, lines, whole=name)
    c.root = Path(content_root) if content_root is not None else Path(path).parent
    rules = parse_rules(data, library, c)
    return (None if c.failed else rules), c.issues


def parse_rules(data: Any, library: Library, c: Checker) -> Rules:
    """Turn the parsed YAML into Rules, reporting every problem to ``c``."""
    top = c.mapping(data, (), TOP)
    stages = library.site.stage_slugs
    weights = _stage_weights(top.get("stages"), stages, c)
    eng = c.mapping(top.get("engagement"), ("engagement",), ("full_read_seconds", "curve", "download", "email_click"))
    full = c.number(eng, "full_read_seconds", ("engagement",), DEFAULTS["full_read_seconds"], above=0)
    curve = _curve(eng.get("curve"), full, c) if "curve" in eng else _scaled_default_curve(full)
    download = c.number(eng, "download", ("engagement",), DEFAULTS["download_share"], low=0, high=10)
    click = c.number(eng, "email_click", ("engagement",), DEFAULTS["click_share"], low=0, high=1)
    half_life = c.number(top, "half_life_days", (), DEFAULTS["half_life_days"], above=0)
    signals = _signals(top.get("signals"), library, c)

    pm = c.mapping(top.get("purchase_mode"), ("purchase_mode",), ("threshold", "recent", "exit", "hand_raise_points"))
    exit_ = _exit(pm, c)
    patterns = _patterns(top.get("patterns"), c)
    threshold = c.number(pm, "threshold", ("purchase_mode",), DEFAULTS["threshold"], above=0)
    recent_path = ("purchase_mode", "recent")
    recent = c.mapping(pm.get("recent"), recent_path, ("days", "stages", "min_readings", "min_engagement"))
    ev_days = c.number(recent, "days", recent_path, DEFAULTS["evidence_days"], above=0)
    ev_min = int(c.number(recent, "min_readings", recent_path, DEFAULTS["evidence_min_readings"], low=1,
                          integer=True))
    ev_share = c.number(recent, "min_engagement", recent_path, DEFAULTS["evidence_min_share"], low=0, high=1)
    ev_stages = _stage_list(recent.get("stages"), (*recent_path, "stages"), stages, c) \
        if "stages" in recent else frozenset(stages[-1:])

    fit = c.mapping(top.get("fit"), ("fit",), ("rules", "grades"))
    fit_rules = _fit_rules(fit.get("rules"), contact_fields(library), c)
    grades = _grades(fit.get("grades"), c) if "grades" in fit else DEFAULTS["grades"]

    handoff = c.mapping(top.get("handoff"), ("handoff",), ("min_grade",))
    min_grade = DEFAULTS["handoff_min_grade"]
    if handoff.get("min_grade") is not None:
        if str(handoff["min_grade"]).upper() in GRADES:
            min_grade = str(handoff["min_grade"]).upper()
        else:
            c.error(("handoff", "min_grade"), f"handoff.min_grade {handoff['min_grade']!r} is not one of "
                                              f"{', '.join(GRADES)}")

    given = pm.get("threshold")
    explicit = {"threshold": isinstance(given, (int, float)) and not isinstance(given, bool), "grades": "grades" in fit}
    rules = finish_rules(Rules(
        stage_weights=MappingProxyType(weights), stages=stages, full_read_seconds=full, curve=curve,
        download_share=download, click_share=click, half_life_days=half_life, signals=MappingProxyType(signals),
        threshold=threshold, evidence_stages=ev_stages, evidence_days=ev_days, evidence_min_readings=ev_min,
        evidence_min_share=ev_share, fit_rules=fit_rules, grade_thresholds=grades, handoff_min_grade=min_grade,
        patterns=patterns, exit=exit_,
    ), library, c.file)
    _check_reachable(rules, library, c, explicit)
    return rules


def _stage_weights(value: Any, stages: tuple[str, ...], c: Checker) -> dict[str, float]:
    weights = {s: default_weight(stages, s) for s in stages}
    if value is None:
        return weights
    if not isinstance(value, dict):
        c.error(("stages",), "stages must map each stage to its weight, e.g. 'decide: 10'")
        return weights
    for stage in value:
        path = ("stages", str(stage))
        if stage not in stages:
            c.error(path, f"stage {stage!r} is not one of {', '.join(stages)} (the stages in site.yml)")
            continue
        weights[stage] = c.number(value, stage, ("stages",), weights[stage], low=0)
    for stage in stages:
        if stage not in value:
            c.warn(("stages",), f"stage {stage!r} has no weight; using {weights[stage]:g}")
    return weights


def _stage_list(value: Any, path: Path_, stages: tuple[str, ...], c: Checker) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        c.error(path, f"{key_name(path)} must be a list of stages, e.g. [{stages[-1]}]")
        return frozenset(stages[-1:])
    for stage in items:
        if stage not in stages:
            c.error(path, f"stage {stage!r} is not one of {', '.join(stages)} (the stages in site.yml)")
    return frozenset(s for s in items if s in stages) or frozenset(stages[-1:])


def _scaled_default_curve(full: float) -> tuple[tuple[float, float], ...]:
    scale = full / DEFAULT_CURVE[-1][0]
    return tuple((s * scale, share) for s, share in DEFAULT_CURVE)


def _curve(value: Any, full: float, c: Checker) -> tuple[tuple[float, float], ...]:
    path = ("engagement", "curve")
    if not isinstance(value, dict) or not value:
        c.error(path, "engagement.curve must map seconds to the share that counts, e.g. '30: 0.25'")
        return _scaled_default_curve(full)
    points: list[tuple[float, float]] = []
    for seconds, share in value.items():
        where = (*path, str(seconds))
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < full:
            c.error(where, f"curve point {seconds!r} must be a number of seconds between 0 and "
                           f"full_read_seconds ({full:g})")
            continue
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            c.error(where, f"the share at {seconds:g} seconds must be a number from 0 to 1, not {share!r}")
            continue
        points.append((float(seconds), float(share)))
    points.sort()
    for (s1, a), (s2, b) in zip(points, points[1:], strict=False):
        if b < a:
            c.error((*path, str(_orig_key(value, s2))), f"the share at {s2:g} seconds ({b:g}) is less than at "
                                                    f"{s1:g} seconds ({a:g}): longer reading must never count less")
    return ((0.0, 0.0), *points, (full, 1.0))


def _orig_key(mapping: dict[Any, Any], number: float) -> Any:
    return next((k for k in mapping if k == number), number)


def _signals(value: Any, library: Library, c: Checker) -> dict[tuple[str, str], Signal]:
    if value is None:
        return {}
    if not isinstance(value, list):
        c.error(("signals",), "signals must be a list, e.g. '- {page: pricing, points: 6}'")
        return {}
    out: dict[tuple[str, str], Signal] = {}
    docs = {"article": library.articles, "guide": library.guides, "page": library.pages}
    drafts = {(d.kind, d.slug) for d in library.drafts}
    scheduled = {(d.kind, d.slug) for d in library.scheduled}  # counts from the day it goes live
    for i, item in enumerate(value):
        path: Path_ = ("signals", i)
        item = c.mapping(item, path, (*CONTENT_KINDS, "points", "label", "evidence"))
        kinds = [k for k in CONTENT_KINDS if k in item]
        if len(kinds) != 1:
            c.error(path, "each signal names exactly one of article, guide or page, e.g. 'page: pricing'")
            continue
        kind, slug = kinds[0], str(item[kinds[0]])
        if slug not in docs[kind] and (kind, slug) not in scheduled:
            if (kind, slug) in drafts:
                c.warn((*path, kind), f"{kind} {slug!r} is a draft: this signal counts nothing until it is published")
            else:
                close = difflib.get_close_matches(slug, list(docs[kind]), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                c.error((*path, kind), f"{kind} {slug!r} does not exist in {kind}s/{hint}")
                continue
        if "points" not in item:
            c.error(path, f"signal {slug!r} needs points, e.g. 'points: 6'")
            continue
        points = c.number(item, "points", path, 0.0, above=0)
        evidence = item.get("evidence", False)
        if not isinstance(evidence, bool):
            c.error((*path, "evidence"), f"evidence must be true or false, not {evidence!r}")
            evidence = False
        if (kind, slug) in out:
            c.error(path, f"{kind} {slug!r} is listed twice in signals")
        out[(kind, slug)] = Signal(kind, slug, points, str(item.get("label") or f"{kind} {slug}"), evidence)
    return out


def _fit_rules(value: Any, fields: dict[str, tuple[str, ...]], c: Checker) -> tuple[FitRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.error(("fit", "rules"), "fit.rules must be a list of conditions, e.g. '- {field: role, contains: [operaciones], points: 30}'")
        return ()
    out: list[FitRule] = []
    for i, item in enumerate(value):
        path: Path_ = ("fit", "rules", i)
        item = c.mapping(item, path, ("field", *CONDITIONS, "points", "label", "exclude"))
        name = item.get("field")
        if not isinstance(name, str) or not name:
            c.error(path, "each fit rule needs a field, e.g. 'field: role'")
            continue
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            c.error((*path, "field"), f"field {name!r} is not a contact field ({hint}known: {', '.join(sorted(fields))})")
            continue
        conditions = [k for k in CONDITIONS if k in item]
        if len(conditions) != 1:
            c.error(path, f"fit rule on {name!r} needs exactly one condition: {', '.join(CONDITIONS)}")
            continue
        cond = conditions[0]
        source = ""
        if cond == "listed_in":
            source = str(item[cond] or "")
            parsed = _listed(source, (*path, cond), name, c)
        else:
            parsed = _condition(cond, item[cond], (*path, cond), fields[name], c)
        if parsed is None:
            continue
        exclude = item.get("exclude", False)
        if not isinstance(exclude, bool):
            c.error((*path, "exclude"), f"exclude must be true or false, not {exclude!r}")
            continue
        if "points" not in item and not exclude:
            c.error(path, f"fit rule on {name!r} needs points, e.g. 'points: 30' (negative to penalise), "
                          "or 'exclude: true'")
            continue
        points = c.number(item, "points", path, 0.0)
        if exclude and points > 0:
            c.error((*path, "points"), f"an exclusion cannot add points ({points:g}): leave points out or make "
                                       "them negative")
            continue
        out.append(FitRule(name, cond, parsed, points, str(item.get("label") or ""), exclude, source))
    return tuple(out)


def _listed(source: str, path: Path_, field_name: str, c: Checker) -> tuple[str, ...] | None:
    """The entries of a list file in the content folder (one a line, # comments), each line checked."""
    if not source or not source.endswith(".txt") or source.startswith(("/", "\\")) or ".." in Path(source).parts:
        c.error(path, f"listed_in names a .txt file inside the content folder, e.g. exclusions/competitors.txt, "
                      f"not {source!r}")
        return None
    file = (c.root or Path(".")) / source
    if not file.is_file():
        c.error(path, f"list file {source!r} does not exist in the content folder")
        return None
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        c.error(path, f"list file {source!r} cannot be read as UTF-8 text: {exc}")
        return None
    entries: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        if field_name in DOMAIN_FIELDS:
            entry = entry.lower().removeprefix("@")
            if not _DOMAIN.match(entry):
                c.issues.append(Issue("error", source, f"{entry!r} is not an email domain (e.g. example.com); "
                                                       f"used by {key_name(path)} in {c.file}", number, field_name))
                continue
        elif len(entry) > 200:
            c.issues.append(Issue("error", source, "an entry is longer than 200 characters", number, field_name))
            continue
        entries.append(entry)
    if not entries:
        c.warn(path, f"list file {source!r} has no entries: this rule never matches")
    return tuple(dict.fromkeys(entries))


def _exit(pm: dict[str, Any], c: Checker) -> Exit:
    path = ("purchase_mode", "exit")
    ex = c.mapping(pm.get("exit"), path, ("silence_days", "repeat_share"))
    d = Exit()
    return Exit(
        silence_days=c.number(ex, "silence_days", path, d.silence_days, above=0),
        repeat_share=c.number(ex, "repeat_share", path, d.repeat_share, low=0, high=0.9),
        hand_raise_points=c.number(pm, "hand_raise_points", ("purchase_mode",), d.hand_raise_points, low=0),
    )


def _patterns(value: Any, c: Checker) -> Patterns:
    top = c.mapping(value, ("patterns",), ("focus", "pace", "path"))
    d = Patterns()
    fp, pp, hp = ("patterns", "focus"), ("patterns", "pace"), ("patterns", "path")
    focus = c.mapping(top.get("focus"), fp, ("days", "top_problems", "min_share", "min_pieces"))
    pace = c.mapping(top.get("pace"), pp, ("words_per_minute", "min_words", "scan_min_reads", "scan_share",
                                           "visit_gap_minutes", "scan_days"))
    path = c.mapping(top.get("path"), hp, ("min_days", "threshold_discount"))
    return Patterns(
        focus_days=c.number(focus, "days", fp, d.focus_days, above=0),
        focus_top=int(c.number(focus, "top_problems", fp, d.focus_top, low=1, integer=True)),
        focus_min_share=c.number(focus, "min_share", fp, d.focus_min_share, low=0, high=1),
        focus_min_pieces=int(c.number(focus, "min_pieces", fp, d.focus_min_pieces, low=1, integer=True)),
        pace_words_per_minute=c.number(pace, "words_per_minute", pp, d.pace_words_per_minute, above=0),
        pace_min_words=int(c.number(pace, "min_words", pp, d.pace_min_words, low=0, integer=True)),
        scan_min_reads=int(c.number(pace, "scan_min_reads", pp, d.scan_min_reads, low=2, integer=True)),
        scan_share=c.number(pace, "scan_share", pp, d.scan_share, above=0, high=1),
        visit_gap_minutes=c.number(pace, "visit_gap_minutes", pp, d.visit_gap_minutes, above=0),
        scan_days=c.number(pace, "scan_days", pp, d.scan_days, above=0),
        path_min_days=int(c.number(path, "min_days", hp, d.path_min_days, low=1, integer=True)),
        path_discount=c.number(path, "threshold_discount", hp, d.path_discount, low=0, high=0.9),
    )


def _condition(cond: str, value: Any, path: Path_, choices: tuple[str, ...], c: Checker) -> Any:
    scalar = (str, int, float)
    if cond == "present":
        if not isinstance(value, bool):
            c.error(path, f"present must be true or false, not {value!r}")
            return None
        return value
    if cond == "between":
        ok = isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and value[0] <= value[1]
        if not ok:
            c.error(path, f"between needs [lowest, highest] numbers, e.g. [20, 500], not {value!r}")
            return None
        return (float(value[0]), float(value[1]))
    if cond == "equals":
        if not isinstance(value, scalar) or isinstance(value, bool):
            c.error(path, f"equals needs one value, e.g. 'equals: España', not {value!r}")
            return None
        values: tuple[str, ...] = (str(value),)
    else:
        items = [value] if isinstance(value, scalar) and not isinstance(value, bool) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, scalar) for v in items):
            c.error(path, f"{cond} needs a list of values, e.g. '{cond}: [a, b]', not {value!r}")
            return None
        values = tuple(str(v) for v in items)
    if choices and cond in ("equals", "in"):
        folded = {fold(ch) for ch in choices}
        for v in values:
            if fold(v) not in folded:
                c.warn(path, f"{v!r} is not one of the form's choices ({', '.join(choices)}): it will never match")
    return values


def _grades(value: Any, c: Checker) -> tuple[tuple[str, float], ...]:
    path = ("fit", "grades")
    if not isinstance(value, dict) or not value:
        c.error(path, "fit.grades must give the minimum points of each grade, e.g. 'A: 65'")
        return DEFAULTS["grades"]
    given: dict[str, float] = {}
    for letter, points in value.items():
        where = (*path, str(letter))
        if str(letter) not in GRADES[:-1]:
            c.error(where, f"grade {letter!r} is not one of A, B, C (D is everyone below C)")
            continue
        if isinstance(points, bool) or not isinstance(points, (int, float)):
            c.error(where, f"fit.grades.{letter} must be a number of points, not {points!r}")
            continue
        given[str(letter)] = float(points)
    defaults = dict(DEFAULTS["grades"])
    merged = [(g, given.get(g, defaults[g])) for g in GRADES[:-1]]
    for (g1, p1), (g2, p2) in zip(merged, merged[1:], strict=False):
        if p2 >= p1:
            c.error((*path, g2 if g2 in given else g1),
                    f"grade {g2} needs {p2:g} points, not fewer than grade {g1} ({p1:g}): better grades need more")
    return tuple(merged)


def _check_reachable(rules: Rules, library: Library, c: Checker, explicit: dict[str, bool]) -> None:
    """A threshold no contact could reach is a mistake, not a policy (a warning if it is a default)."""
    already = {i.field for i in c.issues}
    if rules.threshold > rules.max_score and "purchase_mode.threshold" not in already:
        report = c.error if explicit["threshold"] else c.warn
        given = "" if explicit["threshold"] else " (the default; set purchase_mode.threshold)"
        report(("purchase_mode", "threshold"),
               f"purchase_mode.threshold {rules.threshold:g}{given} cannot be reached: the most a contact can "
               f"score is {rules.max_score:g} (every article and guide read in full today, plus every signal)")
    evidence_items = sum(1 for docs in (library.articles, library.guides) for d in docs.values()
                         if d.stage in rules.evidence_stages) + sum(1 for s in rules.signals.values() if s.evidence)
    if rules.evidence_min_readings > evidence_items:
        c.error(("purchase_mode", "recent", "min_readings"),
                f"purchase_mode.recent.min_readings {rules.evidence_min_readings} cannot be reached: only "
                f"{evidence_items} published items are in stage {', '.join(sorted(rules.evidence_stages))}")
    if rules.fit_rules:
        top = max_fit_points(rules)
        report = c.error if explicit["grades"] else c.warn
        for grade, points in rules.grade_thresholds:
            if points > top:
                report(("fit", "grades", grade),
                       f"grade {grade} needs {points:g} points but the fit rules give at most {top:g}: "
                       "no contact could reach it")
                break


# --- the loader extension -----------------------------------------------------------------


class RulesExtension:
    """Loads intent.yml with the library; a broken file keeps the last valid rules."""

    section = SECTION

    def __init__(self) -> None:
        self.last_good: Rules | None = None

    def __call__(self, root: Path, library: Library) -> tuple[str, Rules, list[Issue]]:
        rules, issues = load_rules(root, library)
        if rules is not None:
            self.last_good = rules
            return self.section, rules, issues
        if self.last_good is not None:
            return self.section, self.last_good, [
                *issues, Issue("warning", FILE, "has errors: the site keeps the last valid rules")]
        return self.section, default_rules(library), [
            *issues, Issue("warning", FILE, "has errors: the site uses the default rules until it is fixed")]
