"""Reading patterns: is enough evidence the reading of someone choosing, or of someone researching?

Three named factors (``patterns`` in intent.yml), each judged on the reading
before a moment:

* **focus**: how many of the recent pieces (``focus_days``; a piece on two
  problems counts half to each) are on the ``focus_top`` problems a buyer
  concentrates on. A journalist, analyst or
  student reads across every problem; a buyer reads around one or two.
* **pace**: attention per word. An article read faster than
  ``pace_words_per_minute`` is skimmed (never purchase evidence); a visit of
  ``scan_min_reads`` readings or more, mostly skimmed, in the last ``scan_days``, is scanning.
* **path**: learn or compare, then decide, on the same problem, on
  ``path_min_days`` different days or more: how buying looks. Each earlier
  stage walked lowers the threshold by ``path_discount`` (compounded; so does a
  hand-raiser page (pricing, demo) visited in the same visit as the decide-stage reading, see
  ``timeline``).

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
    # Pieces, not points: the stage weights measure how close to buying a piece is, not where the
    # attention goes; weighted by them, two case studies made a 6-piece, 5-problem sitting look focused.
    per_problem: dict[str, float] = {}
    for s in best.values():
        for problem in s.problems:
            per_problem[problem] = per_problem.get(problem, 0.0) + 1.0 / len(s.problems)
    total = sum(per_problem.values())
    top = sum(sorted(per_problem.values(), reverse=True)[:p.focus_top])
    share = top / total if total > 0 else 1.0
    if share >= p.focus_min_share:
        return None
    return {"pattern": "focus", "pieces": len(best), "problems": len(per_problem), "share": round(share, 3),
            "minutes": _minutes(recent)}


def visits(recent: Sequence[Seen], rules: Rules) -> list[list[Seen]]:
    """``recent`` (time-ordered) split into visits at every pause of ``visit_gap``."""
    gap = timedelta(minutes=rules.patterns.visit_gap_minutes)
    out: list[list[Seen]] = []
    for s in recent:
        if out and s.at - out[-1][-1].at <= gap:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def scanning(recent: Sequence[Seen], rules: Rules) -> dict[str, Any] | None:
    """None unless a visit of the last ``scan_days`` was many short reads; else its verdict (the latest such)."""
    p = rules.patterns
    if not recent:
        return None
    since = recent[-1].at - timedelta(days=p.scan_days)
    for one in reversed(visits([s for s in recent if s.at >= since], rules)):
        if len(one) < p.scan_min_reads:
            continue
        fast = sum(1 for s in one if s.skimmed)
        if fast / len(one) < p.scan_share:
            continue
        problems = {pr for s in one for pr in s.problems}
        return {"pattern": "pace", "pieces": len({s.key for s in one}), "problems": len(problems),
                "skimmed": fast, "minutes": _minutes(one)}
    return None


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
