"""Reading patterns: is enough evidence the reading of someone choosing, or of someone researching?

Three named factors (``patterns`` in intent.yml), each judged on the reading
before a moment:

* **focus**: how much of the recent reading (``focus_days``) is on the
  ``focus_top`` problems a buyer concentrates on. A journalist, analyst or
  student reads across every problem; a buyer reads around one or two.
* **pace**: attention per word. An article read faster than
  ``pace_words_per_minute`` is skimmed (never purchase evidence); a visit of
  ``scan_min_reads`` readings or more, mostly skimmed, is scanning.
* **path**: learn or compare, then decide, on the same problem, on
  ``path_min_days`` different days or more: how buying looks. It lowers the
  threshold by ``path_discount``.

Each verdict is a small dict stored with the evidence, so the explanation says
in words which pattern decided ("read 21 pieces on 5 problems in 50 minutes:
researching, not choosing").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cabos.intent.rules import Rules

DAY = 86400.0


@dataclass(slots=True)
class Seen:
    """A reading the patterns look at (engaged, on content with problems)."""

    at: datetime
    key: tuple[str, str]
    stage: str | None
    problems: tuple[str, ...]
    base: float  # value before decay
    engaged_ms: int
    skimmed: bool


def focus(recent: Sequence[Seen], rules: Rules) -> dict[str, Any] | None:
    """None if focused enough (or too little to judge); else the verdict: pieces, problems, share."""
    p = rules.patterns
    best: dict[tuple[str, str], Seen] = {}
    for s in recent:
        if s.problems and (s.key not in best or s.base > best[s.key].base):
            best[s.key] = s
    if len(best) < p.focus_min_pieces:
        return None
    per_problem: dict[str, float] = {}
    for s in best.values():
        for problem in s.problems:
            per_problem[problem] = per_problem.get(problem, 0.0) + s.base / len(s.problems)
    total = sum(per_problem.values())
    top = sum(sorted(per_problem.values(), reverse=True)[:p.focus_top])
    share = top / total if total > 0 else 1.0
    if share >= p.focus_min_share:
        return None
    return {"pattern": "focus", "pieces": len(best), "problems": len(per_problem), "share": round(share, 3),
            "minutes": _minutes(recent)}


def visit(recent: Sequence[Seen], rules: Rules) -> list[Seen]:
    """The readings of the last visit in ``recent`` (time-ordered): back to the first pause of ``visit_gap``."""
    gap = timedelta(minutes=rules.patterns.visit_gap_minutes)
    out: list[Seen] = []
    for s in reversed(recent):
        if out and out[-1].at - s.at > gap:
            break
        out.append(s)
    out.reverse()
    return out


def scanning(recent: Sequence[Seen], rules: Rules) -> dict[str, Any] | None:
    """None unless the last visit is many short reads; else the verdict: pieces, problems, minutes."""
    p = rules.patterns
    last = visit(recent, rules)
    if len(last) < p.scan_min_reads:
        return None
    fast = sum(1 for s in last if s.skimmed)
    if fast / len(last) < p.scan_share:
        return None
    problems = {pr for s in last for pr in s.problems}
    return {"pattern": "pace", "pieces": len({s.key for s in last}), "problems": len(problems),
            "skimmed": fast, "minutes": _minutes(last)}


def path(history: Sequence[Seen], problem: str, rules: Rules) -> dict[str, Any] | None:
    """The buying path on ``problem``, if the reading shows one: earlier stages then decide, over days."""
    on = [s for s in history if problem in s.problems and not s.skimmed]
    evidence_stages = rules.evidence_stages
    decided = [s for s in on if s.stage in evidence_stages]
    if not decided:
        return None
    last = max(s.at for s in decided)
    before = [s for s in on if s.stage not in evidence_stages and s.at <= last]
    if not before:
        return None
    days = {s.at.date() for s in before} | {s.at.date() for s in decided}
    if len(days) < rules.patterns.path_min_days:
        return None
    stages = [st for st in rules.stages if any(s.stage == st for s in on)]
    return {"pattern": "path", "problem": problem, "stages": stages, "days": len(days)}


def _minutes(readings: Sequence[Seen]) -> int:
    if not readings:
        return 0
    first = min(s.at for s in readings)
    last = max(s.at + timedelta(milliseconds=s.engaged_ms) for s in readings)
    return max(1, round((last - first).total_seconds() / 60))
