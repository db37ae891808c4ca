"""The walk through a person's trail, in time order: what each piece is worth, and when the mode changed.

Purchase mode has separate entry and exit conditions (hysteresis):

* **Entry**, checked at each event: enough recent purchase evidence
  (``purchase_mode.recent``), the score at the threshold (lowered, compounded,
  by each sign of choosing: each earlier stage of a buying path, a hand-raiser
  page such as pricing in the same visit as the evidence), and reading patterns that look like choosing, not researching
  (``patterns``: focus and pace). A demo or contact-sales request (an event
  ``hand_raise``) enters at once, whatever the rest.
* **Exit**: ``exit.silence_days`` without hand-raiser activity (decide-stage
  reading, a signal visit, a request), or a sales outcome that closes the
  handoff (sent back, disqualified, won, lost). After an outcome, only new
  evidence enters again.

So the mode at ``now`` depends on the order of events, not only on sums: a
buyer who read case studies three weeks ago and went back to pricing is still
choosing; the score may have decayed below the threshold meanwhile. The walk
keeps one running sum (every value normalised to the first event's time, so
decay is one multiplication), which makes it linear in the number of events.

What the walk leaves behind is computable on read: the mode holds ``until`` a
moment (the last hand-raiser activity plus the silence), after which it is
information mode with no event needed (``Assessment.at``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cabos.intent.contributions import DAY, INFORMATION, PURCHASE, Judge, Reading, judge
from cabos.intent.patterns import Seen, focus, path, scanning
from cabos.intent.rules import Rules

CLOSING_OUTCOMES = ("sent_back", "disqualified", "won", "lost")
_REBASE = 256.0
_SECOND_LOOK = timedelta(hours=12)  # after an entry on reading, the patterns keep being judged this long  # normalised values grow as 2^(elapsed / half-life): start again from a later time before overflow


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of content's contribution: its best reading, as worth at the assessment's time."""

    kind: str
    slug: str
    stage: str | None
    problems: tuple[str, ...]
    value: float
    share: float  # engagement share of the best reading
    points: float  # signal points included in value (before decay)
    visits: int  # readings of this item that counted
    engaged_ms: int  # over all those readings
    last_at: datetime
    event_id: int | None  # the best reading: the one that counts
    evidence_at: datetime | None  # latest reading that is purchase evidence

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A recompute's workers send every changed contact's assessment to the writing process: the
        # dataclass default (field by field, in Python) made pickling an item 5-10x dearer.
        return Item, (self.kind, self.slug, self.stage, self.problems, self.value, self.share, self.points,
                      self.visits, self.engaged_ms, self.last_at, self.event_id, self.evidence_at)


@dataclass(slots=True)
class _Acc:
    reading: Reading
    norm: float  # best reading's value without signal points, normalised
    share: float
    points: float
    visits: int
    ms: int
    last_at: datetime
    evidence_at: datetime | None
    # Signal points, with diminishing returns: the latest day's visit counts its points in full, the
    # day before × repeat_share, the one before × repeat_share², … (normalised). Adding a visit never
    # lowers the sum, whenever it happened.
    today: float = 0.0
    before: float = 0.0
    day: Any = None
    base: float = 0.0  # the best reading's value without points, before decay (exact values at the end)
    visits_by_day: list[datetime] = field(default_factory=list)  # signal: latest visit of each day

    @property
    def bonus(self) -> float:
        return self.today + self.before


@dataclass
class Walk:
    """The trail walked up to ``now``."""

    items: tuple[Item, ...] = ()
    mode: str = INFORMATION
    entered_at: datetime | None = None
    until: datetime | None = None  # purchase mode holds until then if nothing happens
    why: dict[str, Any] = field(default_factory=dict)
    evidence_count: int = 0
    episodes: list[tuple[datetime, datetime | None, str]] = field(default_factory=list)  # (in, out, why out)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _form(r: Reading) -> str:
    return str((r.detail or {}).get("form") or "hand_raise")[:200]


class _Walker:
    def __init__(self, rules: Rules, t0: datetime) -> None:
        self.rules = rules
        self.judge = judge(rules)
        self.t0 = t0
        self.half_life = rules.half_life_days * DAY
        self.acc: dict[tuple[str, str], _Acc] = {}
        self.total = 0.0
        self.seen: list[Seen] = []
        self.seen_at: list[datetime] = []  # the times of ``seen``, for the recent window
        self.judge_at: datetime | None = None  # the last moment the sums said buyer and the evidence did not
        self.walk = Walk()
        self.blocked_after: datetime | None = None
        self.last_keep: datetime | None = None
        self.silence = timedelta(days=rules.exit.silence_days)
        self.window = timedelta(days=rules.evidence_days)
        self.visit_gap = timedelta(minutes=rules.patterns.visit_gap_minutes)
        self.signal_visits: list[tuple[datetime, tuple[str, str]]] = []  # (when, item) of signal visits
        self.latest_evidence: datetime | None = None  # the latest evidence reading of any item
        # every earlier stage a path can show, and a hand-raiser in the same visit
        most = sum(1 for st in rules.stages if st not in rules.evidence_stages) + 1
        self.lowest_threshold = rules.threshold * (1.0 - rules.patterns.path_discount) ** most

    # -- values --------------------------------------------------------------------------------

    def _growth(self, t: datetime) -> float:
        exponent = (t - self.t0).total_seconds() / self.half_life
        if exponent > _REBASE:
            shrink = 0.5 ** exponent
            for a in self.acc.values():
                a.norm *= shrink
                a.today *= shrink
                a.before *= shrink
            self.total *= shrink
            self.t0 = t
            exponent = 0.0
        return 2.0 ** exponent

    def add(self, r: Reading, key: tuple[str, str], base: float, share: float, points: float,
            evidence: bool) -> float:
        """Count ``r``; returns the growth factor at its time (the running sum over it is the score then)."""
        t = r.occurred_at
        growth = self._growth(t)
        norm = (base - points) * growth
        a = self.acc.get(key)
        if a is None:
            a = self.acc[key] = _Acc(r, norm, share, points, 0, 0, t, None, base=base - points)
            self.total += norm
        elif norm >= a.norm:  # as good now as the best so far: the later one counts (a page: the latest visit)
            self.total += norm - a.norm
            a.reading, a.norm, a.share, a.base = r, norm, share, base - points
        if points > 0:
            old = a.bonus
            day = t.date()
            if a.day is not None and day != a.day:
                a.before = a.today + self.rules.exit.repeat_share * a.before
                a.visits_by_day.append(t)
            elif a.visits_by_day:
                a.visits_by_day[-1] = t
            else:
                a.visits_by_day.append(t)
            a.day, a.today, a.points = day, points * growth, points
            self.total += a.bonus - old
        a.visits += 1
        a.ms += r.engaged_ms
        if t > a.last_at:
            a.last_at = t
        if evidence and (a.evidence_at is None or t > a.evidence_at):
            a.evidence_at = t
            if self.latest_evidence is None or t > self.latest_evidence:
                self.latest_evidence = t
        return growth

    # -- mode --------------------------------------------------------------------------------

    def evidence_items(self, t: datetime) -> list[tuple[datetime, tuple[str, str]]]:
        since = t - self.window
        after = self.blocked_after
        return [(a.evidence_at, k) for k, a in self.acc.items() if a.evidence_at is not None
                and a.evidence_at >= since and (after is None or a.evidence_at > after)]

    def evidence_times(self, t: datetime) -> list[datetime]:
        return [at for at, _ in self.evidence_items(t)]

    def corroborated(self, evidence: list[tuple[datetime, tuple[str, str]]]) -> dict[str, Any] | None:
        """A hand-raiser page (pricing, demo) visited in the same visit as an evidence reading."""
        gap = self.visit_gap
        for at, key in reversed(self.signal_visits):
            for e_at, e_key in evidence:
                if e_key != key and abs(at - e_at) <= gap:
                    signal = self.rules.signals.get(key)
                    return {"signal": signal.label if signal else key[1], "at": _iso(at)}
            if evidence and at < min(e_at for e_at, _ in evidence) - gap:
                return None
        return None

    def top_problem(self) -> str | None:
        per: dict[str, float] = {}
        for a in self.acc.values():
            for p in a.reading.problems:
                per[p] = per.get(p, 0.0) + a.norm + a.bonus
        return max(per, key=lambda p: (per[p], p)) if per else None

    def enter(self, t: datetime, why: dict[str, Any]) -> None:
        w = self.walk
        w.mode, w.entered_at, w.why = PURCHASE, t, why
        w.until = (self.last_keep or t) + self.silence
        w.episodes.append((t, None, ""))

    def leave(self, t: datetime, why: dict[str, Any]) -> None:
        w = self.walk
        start, _, _ = w.episodes[-1]
        w.episodes[-1] = (start, t, str(why.get("exit")))
        w.mode, w.until, w.why = INFORMATION, None, why

    def check_entry(self, t: datetime, score: float) -> None:
        """Enter purchase mode at ``t`` if the evidence, the ``score`` then and the reading patterns say so."""
        rules = self.rules
        threshold = rules.threshold
        if score < self.lowest_threshold:
            return  # not even every sign of choosing would lower the threshold that far: nothing more to look at
        latest, after = self.latest_evidence, self.blocked_after
        if latest is None or latest < t - self.window or (after is not None and latest <= after):
            self.judge_at = t  # no evidence at all (the usual case): decided without looking at every item
            return
        evidence = self.evidence_items(t)
        times = [at for at, _ in evidence]
        if len(times) < rules.evidence_min_readings:
            self.judge_at = t  # no entry possible; the patterns are judged once, at the end, for the words
            return
        problem = self.top_problem()
        buying_path = path(self.seen, problem, rules) if problem else None
        signal = self.corroborated(evidence)
        # Each sign of choosing beyond the evidence itself lowers the threshold by the discount, compounded:
        # each earlier stage walked on the problem before deciding (the path), and a hand-raiser in the
        # same visit as the decide-stage reading.
        signs = (sum(1 for st in buying_path["stages"] if st not in rules.evidence_stages) if buying_path else 0) \
            + (signal is not None)
        threshold *= (1.0 - rules.patterns.path_discount) ** signs
        if score < threshold:
            return
        verdict = self.verdict(t)
        if verdict is not None:
            self.walk.why = {**verdict, "at": _iso(t)}  # the sums say buyer; the reading says research
            return
        self.judge_at = None
        self.enter(t, {"entry": "reading", "score": round(score, 3), "threshold": round(threshold, 3),
                       "evidence": len(times), "path": buying_path, "problem": problem,
                       **({"corroborated": signal} if signal else {})})

    def verdict(self, t: datetime) -> dict[str, Any] | None:
        since = t - timedelta(days=self.rules.patterns.focus_days)
        recent = self.seen[bisect.bisect_left(self.seen_at, since):bisect.bisect_right(self.seen_at, t)]
        found = focus(recent, self.rules) or scanning(recent, self.rules)
        if found is None or not any(s.stage in self.rules.evidence_stages for s in recent):
            return None  # nothing at the decide stage to judge: the evidence rule says why
        return found

    def step(self, r: Reading) -> None:
        self.decide(r, self.count(r))

    # The walk in two halves. ``count`` is what the event adds to the trail (values, what was seen,
    # the latest evidence): it depends on the rules' arithmetic only, not on the mode. ``decide`` is
    # what it does to the mode. Rules that share the arithmetic (a replay of a new threshold, silence
    # or fit) share one count and decide each on their own (``walk_many``).

    def count(self, r: Reading) -> tuple[float, bool] | None:
        """Count ``r`` in the trail; (the score just after it, whether it keeps purchase mode fresh), or None."""
        t = r.occurred_at
        if r.type == "outcome":
            return None
        if r.type == "hand_raise":
            form = _form(r)
            points = self.rules.exit.hand_raise_points
            growth = self.add(Reading(t, "form", form, None, (), 0, 0, False, "hand_raise", r.id), ("form", form),
                              points, 0.0, points, True)
            self.last_keep = t
            return self.total / growth, True
        base, share, points, evidence, fast = self.judge.weigh(r)
        if base <= 0:
            return None
        key = (r.content_kind or "", r.content_slug or "")
        growth = self.add(r, key, base, share, points, evidence)
        page = key[0] == "page"
        if r.type == "reading" and not page and r.problems:
            self.seen.append(Seen(t, key, r.stage, r.problems, base, r.engaged_ms, fast))
            self.seen_at.append(t)
        if points > 0 and page:
            # A page about buying from us (pricing, demo), not a case study: reading two case studies in a
            # sitting is what researchers do too.
            self.signal_visits.append((t, key))
        keep = evidence or points > 0
        if keep:
            self.last_keep = t
        return self.total / growth, keep

    def decide(self, r: Reading, counted: tuple[float, bool] | None) -> None:
        """What ``r`` (counted already: ``count``'s answer) does to the mode."""
        t = r.occurred_at
        w = self.walk
        if w.mode == PURCHASE and w.until is not None and w.until <= t:
            self.leave(w.until, {"exit": "silence", "at": _iso(w.until)})
        if r.type == "outcome":
            kind = (r.detail or {}).get("outcome")
            if kind in CLOSING_OUTCOMES:
                self.blocked_after = t
                why = {"exit": "outcome", "outcome": kind, "reason": (r.detail or {}).get("reason"), "at": _iso(t)}
                if w.mode == PURCHASE:
                    self.leave(t, why)
                else:
                    w.why = why
            return
        if counted is None:
            return
        if r.type == "hand_raise":
            d = r.detail or {}
            request = {"entry": "hand_raise", "form": _form(r), "kind": str(d.get("kind") or "")[:40],
                       "message": str(d.get("message") or "")[:2000], "at": _iso(t)}
            if w.mode == PURCHASE:
                w.until = t + self.silence
                w.why = {**w.why, "request": request}
            else:
                self.blocked_after = None  # asking is new evidence, whatever sales said before
                self.enter(t, request)
            return
        score, keep = counted
        if keep and w.mode == PURCHASE:
            w.until = t + self.silence
        if w.mode == INFORMATION:
            self.check_entry(t, score)
        elif w.entered_at is not None and w.why.get("entry") == "reading" and t - w.entered_at < _SECOND_LOOK:
            # Entered on reading early in a sitting: if the rest of it reads as research, it was research.
            verdict = self.verdict(t)
            if verdict is not None:
                self.leave(t, {**verdict, "exit": "pattern", "at": _iso(t)})

    def follow(self, other: _Walker) -> None:
        """Share ``other``'s trail (its counts); this walker only decides (``walk_many``)."""
        self.acc, self.seen, self.seen_at, self.signal_visits = other.acc, other.seen, other.seen_at, other.signal_visits

    def finish(self, now: datetime, values: bool = True) -> Walk:
        w = self.walk
        if w.mode == PURCHASE and w.until is not None and w.until <= now:
            self.leave(w.until, {"exit": "silence", "at": _iso(w.until)})
        if w.mode == INFORMATION and self.judge_at is not None and "exit" not in w.why:
            verdict = self.verdict(self.judge_at)
            if verdict is not None:
                w.why = {**verdict, "at": _iso(self.judge_at)}
        # Item values computed afresh at ``now`` from the readings that count, not from the running sum:
        # exact, and the same whatever the first event was.
        w.items = () if not values else tuple(Item(k[0], k[1], a.reading.stage, tuple(a.reading.problems), self._value(a, now),
                             a.share, a.points, a.visits, a.ms, a.last_at, a.reading.id, a.evidence_at)
                        for k, a in self.acc.items())
        w.evidence_count = len(self.evidence_times(now))
        return w


    def _value(self, a: _Acc, now: datetime) -> float:
        h = self.half_life
        value = a.base * 0.5 ** ((now - a.reading.occurred_at).total_seconds() / h) if a.base > 0 else 0.0
        r = self.rules.exit.repeat_share
        for k, t in enumerate(reversed(a.visits_by_day)):
            value += a.points * r ** k * 0.5 ** ((now - t).total_seconds() / h)
        return value


def _in_order(readings: Iterable[Reading], now: datetime) -> list[Reading]:
    """The readings up to ``now`` in the order the walk takes them (time, then id)."""
    return sorted((r for r in readings if r.occurred_at <= now), key=lambda r: (r.occurred_at, r.id or 0))


def walk(readings: Iterable[Reading], rules: Rules, now: datetime, values: bool = True) -> Walk:
    """Walk the trail up to ``now`` (later events are ignored): items as worth at ``now``, mode and episodes.

    ``values=False``: the mode, its reasons and episodes only, no items (what a replay counts).
    """
    events = _in_order(readings, now)
    if not events:
        return Walk()
    walker = _Walker(rules, events[0].occurred_at)
    for r in events:
        walker.step(r)
    return walker.finish(now, values)


def first_entry(readings: Iterable[Reading], rules: Rules, now: datetime) -> datetime | None:
    """When the trail up to ``now`` first entered purchase mode (None: never); the walk stops there.

    What a backtest asks of every contact: everything after the first entry cannot change the answer.
    """
    events = _in_order(readings, now)
    if not events:
        return None
    walker = _Walker(rules, events[0].occurred_at)
    episodes = walker.walk.episodes
    for r in events:
        walker.step(r)
        if episodes:
            return episodes[0][0]
    return None


def _counts_alike(a: Rules, b: Rules) -> bool:
    """Whether two rule sets count every event the same (only the mode decisions may differ)."""
    if a is b:
        return True
    ja, jb = judge(a), judge(b)
    return (a.half_life_days == b.half_life_days and a.exit.repeat_share == b.exit.repeat_share
            and a.exit.hand_raise_points == b.exit.hand_raise_points
            and all(getattr(ja, n) == getattr(jb, n) for n in Judge.__slots__ if n != "rules"))


def walk_many(readings: Iterable[Reading], rules: Sequence[Rules], now: datetime, values: bool = True) -> list[Walk]:
    """``[walk(readings, r, now, values) for r in rules]``, counting each event once for rules that count alike.

    A replay of a new threshold, silence, pattern or fit walks every contact under two rule sets: the
    counting (about half of a walk) is shared, each set decides on its own.
    """
    if len(rules) < 2 or not all(_counts_alike(rules[0], r) for r in rules[1:]):
        return [walk(readings, r, now, values) for r in rules]
    events = _in_order(readings, now)
    if not events:
        return [Walk() for _ in rules]
    lead, *rest = walkers = [_Walker(r, events[0].occurred_at) for r in rules]
    for w in rest:
        w.follow(lead)
    for r in events:
        counted = lead.count(r)
        for w in walkers:
            w.latest_evidence, w.last_keep = lead.latest_evidence, lead.last_keep
            w.decide(r, counted)
    return [w.finish(now, values) for w in walkers]

