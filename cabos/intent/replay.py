"""Replay: what candidate rules would do to the contacts we have, before anyone adopts them.

``replay(session, current, candidate, now)`` scores every contact's stored
trail under both rule sets, side by side, and counts who would change mode,
grade or handoff, with a sample of who and why. It only reads: nothing is
stored, no history is written, no signal is sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from cabos.content.library import Library
from cabos.intent.explain import fit_reason, mode_reason, num
from cabos.intent.rules import GRADES, MODES, Rules
from cabos.intent.scoring import Assessment, assess, assess_many, should_hand_off
from cabos.intent.bulk import chunk_map, id_ranges, read_chunk
from cabos.intent.store import fields_of

Move = tuple[str, str | None, str | None]  # (kind, from, to)


@dataclass(frozen=True)
class Sample:
    contact_id: int
    email: str
    now: Assessment
    candidate: Assessment


@dataclass
class ReplayReport:
    at: datetime
    contacts: int = 0
    modes: dict[str, list[int]] = field(default_factory=lambda: {m: [0, 0] for m in MODES})
    grades: dict[str, list[int]] = field(default_factory=lambda: {g: [0, 0] for g in GRADES})
    handoff: list[int] = field(default_factory=lambda: [0, 0])
    moves: Counter[Move] = field(default_factory=Counter)
    samples: dict[Move, list[Sample]] = field(default_factory=dict)


def replay(session: Session, current: Rules, candidate: Rules, now: datetime, sample: int = 5,
           batch_size: int = 1000, workers: int = 1,
           progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Compare ``current`` and ``candidate`` rules on every contact's history (read-only).

    ``workers`` processes score ranges of contacts in parallel (``bulk.chunk_map``); the report is the
    same whatever their number. ``progress(contacts done)`` after each range.
    """
    report = ReplayReport(now)
    ranges = id_ranges(session, batch_size)
    for part in chunk_map(session, _replay_range, ranges, (current, candidate, now, sample), workers):
        _merge(report, part, sample)
        if progress is not None:
            progress(report.contacts)
    return report


def _replay_range(session: Session, lo: int, hi: int, current: Rules, candidate: Rules, now: datetime,
                  sample: int) -> ReplayReport:
    report = ReplayReport(now)
    for person, readings in read_chunk(session, lo, hi):
        fields = fields_of(person)
        # Counting needs the mode, grade and handoff only; the items are worked out for the samples.
        a, b = assess_many(readings, fields, (current, candidate), now, values=False)
        report.contacts += 1
        report.modes[a.mode][0] += 1
        report.modes[b.mode][1] += 1
        report.grades[a.grade or "D"][0] += 1
        report.grades[b.grade or "D"][1] += 1
        report.handoff[0] += should_hand_off(a, current)
        report.handoff[1] += should_hand_off(b, candidate)
        for move in _moves(a, b, current, candidate):
            report.moves[move] += 1
            taken = report.samples.setdefault(move, [])
            if len(taken) < sample:
                taken.append(Sample(person.id, person.email, assess(readings, fields, current, now),
                                    assess(readings, fields, candidate, now)))
    return report


def _merge(report: ReplayReport, part: ReplayReport, sample: int) -> None:
    """Add a later range's report to ``report``: counts add up, samples keep the first ones in id order."""
    report.contacts += part.contacts
    for totals, more in ((report.modes, part.modes), (report.grades, part.grades)):
        for key, (x, y) in more.items():
            totals[key][0] += x
            totals[key][1] += y
    report.handoff[0] += part.handoff[0]
    report.handoff[1] += part.handoff[1]
    report.moves.update(part.moves)
    for move, samples in part.samples.items():
        taken = report.samples.setdefault(move, [])
        taken += samples[:max(0, sample - len(taken))]


def _moves(a: Assessment, b: Assessment, current: Rules, candidate: Rules) -> list[Move]:
    out: list[Move] = []
    if a.mode != b.mode:
        out.append(("mode", a.mode, b.mode))
    if a.grade != b.grade:
        out.append(("grade", a.grade, b.grade))
    before, after = should_hand_off(a, current), should_hand_off(b, candidate)
    if before != after:
        out.append(("handoff", "yes" if before else "no", "yes" if after else "no"))
    return out


def render(report: ReplayReport, current: Rules, candidate: Rules, library: Library) -> list[str]:
    """The report as lines of text for the terminal."""
    lines = [f"Replay of {candidate.source} against {report.contacts:,} contacts at "
             f"{report.at:%Y-%m-%d %H:%M} UTC, compared with {current.source} (nothing was changed)", ""]

    def table(title: str, rows: dict[str, list[int]]) -> None:
        lines.append(f"{title:<14}{'now':>9}{'candidate':>11}{'change':>9}")
        for key, (x, y) in rows.items():
            lines.append(f"{key:<14}{x:>9,}{y:>11,}{y - x:>+9,}")
        lines.append("")

    table("Mode", report.modes)
    table("Grade", report.grades)
    table("Hand-off", {f"≥ {current.handoff_min_grade} → ≥ {candidate.handoff_min_grade}": report.handoff})
    if not report.moves:
        lines.append("No contact would move.")
        return lines
    lines.append("Moves (with a sample of who and why):")
    for move, count in sorted(report.moves.items(), key=lambda mc: (-mc[1], mc[0][0])):
        kind, before, after = move
        lines.append(f"  {kind} {before or '—'} → {after or '—'}: {count:,} contacts")
        for s in report.samples.get(move, []):
            lines.append(f"    {s.email}")
            if kind == "grade":
                lines.append(f"      now:       {fit_reason(s.now, current)}")
                lines.append(f"      candidate: {fit_reason(s.candidate, candidate)}")
            else:
                lines.append(f"      now:       {mode_reason(s.now, current, library)}; grade {s.now.grade}")
                lines.append(f"      candidate: {mode_reason(s.candidate, candidate, library)}; grade "
                             f"{s.candidate.grade}")
    lines.append("")
    lines.append(f"Purchase-mode threshold: {num(current.threshold)} now, {num(candidate.threshold)} candidate.")
    return lines
