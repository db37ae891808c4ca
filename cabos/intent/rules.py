"""The intent rules as a frozen value: scoring, purchase mode, fit and handoff, with their defaults.

``cabos.intent.rulesfile`` reads and checks ``content/intent.yml`` into a
``Rules``; the loaded rules travel with the content library
(``library.sections["intent"]``), so they reload, and stay valid, with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from types import MappingProxyType
from typing import Any

from flask import current_app

from cabos.contacts.models import Contact
from cabos.content.library import Library

SECTION = "intent"  # the library section the loader extension fills
FILE = "intent.yml"
GRADES = ("A", "B", "C", "D")  # best first; D is everyone below C
MODES = ("information", "purchase")
CONTENT_KINDS = ("article", "guide", "page")
CONDITIONS = ("equals", "in", "contains", "between", "present", "listed_in")
# Contact columns a fit rule may look at, plus the domain of the address, plus the fields other parts
# provide through ``store.FIELD_SOURCES`` (sales: how many people of the contact's account there are
# and how many of them read in the last seven days).
DERIVED_FIELDS = ("email_domain", "account_people", "account_readers_week")
_NOT_PROFILE = {"id", "custom", "consent_at", "consent_text", "first_touch", "latest_touch",
                "created_at", "updated_at"}



@dataclass(frozen=True)
class Signal:
    """A hand-raiser: reading (or downloading, or submitting) this content adds points."""

    kind: str
    slug: str
    points: float
    label: str
    evidence: bool = False  # also counts as recent purchase evidence


@dataclass(frozen=True)
class FitRule:
    """A condition on one contact field and the points it gives; ``exclude`` rules say "not our buyer"."""

    field: str
    condition: str
    value: Any  # for listed_in: the entries of the list file
    points: float
    label: str
    exclude: bool = False  # a hard exclusion: grade D and never handed off, whatever the points
    source: str = ""  # listed_in: the list file, relative to the content folder


@dataclass(frozen=True)
class Patterns:
    """How reading is read: focus, pace and path decide whether enough evidence is research or choosing."""

    focus_days: float = 14.0  # recent reading judged for focus
    focus_top: int = 2  # problems a buyer concentrates on
    focus_min_share: float = 0.6  # share of recent reading on those problems
    focus_min_pieces: int = 5  # fewer recent pieces than this: focus is not judged
    pace_words_per_minute: float = 600.0  # faster than this through an article is skimming (fast readers: ~400)
    pace_min_words: int = 200  # shorter pieces are not judged for pace
    scan_min_reads: int = 5  # a visit with this many readings …
    scan_share: float = 0.5  # … this share of them skimmed, is scanning
    visit_gap_minutes: float = 30.0  # a pause this long starts a new visit
    scan_days: float = 7.0  # a scanning visit this recent still says research
    path_min_days: int = 2  # learn/compare then decide on one problem, on this many different days …
    path_discount: float = 0.2  # … each earlier stage (and pricing or demo in the decide visit) lowers the threshold by this share


@dataclass(frozen=True)
class Exit:
    """How purchase mode ends: silence (no hand-raiser or decide-stage activity) or a sales outcome."""

    silence_days: float = 28.0
    repeat_share: float = 0.5  # the n-th repeat visit of a signal on another day adds points × repeat_share^n
    hand_raise_points: float = 20.0  # a demo or contact-sales request


@dataclass(frozen=True)
class Rules:
    stage_weights: Mapping[str, float]
    stages: tuple[str, ...]  # journey order, from site.yml
    full_read_seconds: float
    curve: tuple[tuple[float, float], ...]  # (seconds, share) from (0, 0) to (full_read_seconds, 1)
    download_share: float
    half_life_days: float
    signals: Mapping[tuple[str, str], Signal]
    threshold: float
    evidence_stages: frozenset[str]
    evidence_days: float
    evidence_min_readings: int
    evidence_min_share: float
    fit_rules: tuple[FitRule, ...]
    grade_thresholds: tuple[tuple[str, float], ...]  # (A, 65), (B, 40), (C, 20)
    handoff_min_grade: str
    click_share: float = 0.1  # an email click on a link to a piece: this share of a full read of it
    patterns: Patterns = Patterns()
    exit: Exit = Exit()
    words: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    max_score: float = math.inf
    source: str = "defaults"
    version: str = field(default="", compare=False)

    def weight(self, stage: str | None) -> float:
        return self.stage_weights.get(stage or "", 0.0)


# --- defaults ---------------------------------------------------------------------------

DEFAULT_WEIGHTS = {"learn": 1.0, "compare": 4.0, "decide": 10.0}
DEFAULT_CURVE = ((0.0, 0.0), (10.0, 0.05), (30.0, 0.25), (90.0, 0.7), (180.0, 1.0))
DEFAULTS: dict[str, Any] = {
    "half_life_days": 14.0,
    "full_read_seconds": 180.0,
    "download_share": 1.0,
    "click_share": 0.1,
    "threshold": 20.0,
    "evidence_days": 14.0,
    "evidence_min_readings": 1,
    "evidence_min_share": 0.25,
    "grades": (("A", 65.0), ("B", 40.0), ("C", 20.0)),
    "handoff_min_grade": "B",
}


def default_weight(stages: tuple[str, ...], stage: str) -> float:
    """learn/compare/decide have known weights; other journeys rise from first to last."""
    if stage in DEFAULT_WEIGHTS:
        return DEFAULT_WEIGHTS[stage]
    pos = stages.index(stage)
    return 1.0 if pos == 0 else 10.0 if pos == len(stages) - 1 else 4.0


def default_rules(library: Library) -> Rules:
    """The rules that apply when the content folder has no intent.yml."""
    stages = library.site.stage_slugs
    return finish_rules(Rules(
        stage_weights=MappingProxyType({s: default_weight(stages, s) for s in stages}),
        stages=stages,
        full_read_seconds=DEFAULTS["full_read_seconds"],
        curve=DEFAULT_CURVE,
        download_share=DEFAULTS["download_share"],
        half_life_days=DEFAULTS["half_life_days"],
        signals=MappingProxyType({}),
        threshold=DEFAULTS["threshold"],
        evidence_stages=frozenset(stages[-1:]),
        evidence_days=DEFAULTS["evidence_days"],
        evidence_min_readings=DEFAULTS["evidence_min_readings"],
        evidence_min_share=DEFAULTS["evidence_min_share"],
        fit_rules=(),
        grade_thresholds=DEFAULTS["grades"],
        handoff_min_grade=DEFAULTS["handoff_min_grade"],
    ), library, "defaults")


def finish_rules(rules: Rules, library: Library, source: str) -> Rules:
    words = MappingProxyType({("article", d.slug): d.words for d in library.articles.values()})
    return replace(rules, max_score=max_score(rules, library), source=source, version=_digest(rules), words=words)


def _digest(rules: Rules) -> str:
    """A stable fingerprint of what the rules decide (same rules, same digest, in any process)."""
    canonical = {
        "weights": sorted(rules.stage_weights.items()), "curve": rules.curve, "download": rules.download_share,
        "click": rules.click_share,
        "half_life": rules.half_life_days, "threshold": rules.threshold,
        "signals": sorted((k, s.points, s.evidence) for k, s in rules.signals.items()),
        "evidence": [sorted(rules.evidence_stages), rules.evidence_days, rules.evidence_min_readings,
                     rules.evidence_min_share],
        "fit": [(r.field, r.condition, r.value, r.points, r.exclude) for r in rules.fit_rules],
        "patterns": rules.patterns, "exit": rules.exit,
        "grades": rules.grade_thresholds, "handoff": rules.handoff_min_grade,
    }
    return hashlib.sha256(json.dumps(canonical, default=_plain).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else list(value)


def max_score(rules: Rules, library: Library) -> float:
    """The most any reader could score: every published item read in full today, every signal visited daily.

    Demo and contact-sales requests (``exit.hand_raise_points`` each) come on top: they put a contact
    in purchase mode whatever the score."""
    total = 0.0
    for kind, docs in (("article", library.articles), ("guide", library.guides), ("page", library.pages)):
        for doc in docs.values():
            share = max(1.0, rules.download_share) if kind == "guide" else 1.0
            weight = rules.weight(doc.stage) if kind != "page" else 0.0
            signal = rules.signals.get((kind, doc.slug))
            # Repeat visits of a signal add points × repeat_share^n: a geometric series.
            repeats = 1.0 / (1.0 - rules.exit.repeat_share) if rules.exit.repeat_share < 1 else 1.0
            total += weight * share + (signal.points * repeats if signal else 0.0)
    return total


def max_fit_points(rules: Rules) -> float:
    return sum(r.points for r in rules.fit_rules if r.points > 0 and not r.exclude)


def contact_fields(library: Library) -> dict[str, tuple[str, ...]]:
    """Fields a fit rule may use: profile columns, email_domain, custom form fields (with choices)."""
    known: dict[str, tuple[str, ...]] = {c.name: () for c in Contact.__table__.columns if c.name not in _NOT_PROFILE}
    known.update({name: () for name in DERIVED_FIELDS})
    for guide in library.guides.values():
        for ff in guide.form_fields:
            known[ff.name] = tuple(dict.fromkeys(known.get(ff.name, ()) + ff.choices))
    return known


def fold(value: str) -> str:
    """Case- and accent-insensitive form used for matching ("Almacén" == "almacen")."""
    decomposed = unicodedata.normalize("NFKD", value.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def rules_of(library: Library, fallback: Callable[[Library], Rules] | None = None) -> Rules:
    """The rules loaded with ``library`` (the defaults if the extension is not wired)."""
    rules = library.sections.get(SECTION)
    return rules if isinstance(rules, Rules) else (fallback or default_rules)(library)


def current_rules() -> Rules:
    """The rules of the running app: the last valid intent.yml, or the defaults."""
    return rules_of(current_app.extensions["cabos.content"].current())
