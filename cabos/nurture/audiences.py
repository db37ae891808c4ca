"""Segments and broadcasts: who a one-off email goes to, and the email itself, as content files.

``content/segments/<slug>.yml`` names conditions a contact must all meet::

    name: Learning about stock, from LinkedIn
    consent: true                    # only contacts who agreed to receive emails (a broadcast requires it)
    problems: [inventario-descuadrado]   # interested in any of these (interest above min_interest, default 0)
    min_interest: 2
    mode: information                # or purchase, or a list
    grade: [A, B]                    # fit grade
    stage: compare                   # read something at this stage of the journey or a later one
    source: [linkedin, google]       # first-touch source, normalised as the campaigns report does
    company: [Acme, Globex]          # the account: company names, any case
    list: newsletter                 # confirmed and not unsubscribed on this mailing list (the forms' lists)
    lifecycle: [lead, nurture]       # where they stand with sales: lead, handed_off, accepted, customer,
                                     # nurture (sent back or lost), disqualified

Mode and interest are the contact's as of the moment the segment is counted (decay applied, as the
contact page shows them), not as last stored.

``content/broadcasts/<slug>.md`` is a Markdown email (the nurture emails' tags, except the article
ones: a broadcast says the same to everyone) with ``subject``, ``preheader``, ``segment`` and
``send_at`` (when the worker queues it; without it, only `cabos broadcast send` does), and may test
its subject lines (``subjects``, ``test_share``, ``pick_winner_after``: see ``email_files``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cabos.content import fields as f
from cabos.content.library import Library
from cabos.content.model import Issue
from cabos.content.yamlfile import KeyChecker, read_yaml, suggest
from cabos.intent.rules import GRADES
from cabos.nurture.email_files import SubjectTest, read_email
from cabos.nurture.emails import ARTICLE_TAGS, TAGS, Template
from cabos.nurture.sequences import MODES
from cabos.sales.lifecycle import STAGES as LIFECYCLE

SECTION = "audiences"
SEGMENT_KEYS = ("name", "description", "consent", "problems", "min_interest", "mode", "grade", "stage", "source",
                "company", "list", "lifecycle")
BROADCAST_KEYS = ("segment", "send_at")  # besides every email's (email_files.EMAIL_KEYS)
BROADCAST_TAGS = tuple(t for t in TAGS if t not in ARTICLE_TAGS)


@dataclass(frozen=True)
class Segment:
    slug: str
    name: str
    source_file: str
    consent: bool = False
    problems: tuple[str, ...] = ()
    min_interest: float = 0.0
    modes: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    stage: str | None = None
    sources: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    lifecycle: tuple[str, ...] = ()  # stages with sales (cabos.sales.lifecycle.STAGES)

    def describe(self) -> list[str]:
        """The conditions in words (the staff page and the dry run show them)."""
        out = ["consent" if self.consent else "no consent filter"]
        if self.problems:
            out.append(f"interest in {' or '.join(self.problems)}" + (f" > {self.min_interest:g}"
                                                                       if self.min_interest else ""))
        for label, values in (("mode", self.modes), ("grade", self.grades), ("source", self.sources),
                              ("company", self.companies), ("list", self.lists), ("lifecycle", self.lifecycle)):
            if values:
                out.append(f"{label} {' or '.join(values)}")
        if self.stage:
            out.append(f"reached {self.stage}")
        return out


@dataclass(frozen=True)
class Broadcast:
    slug: str
    source_file: str
    subject: str
    preheader: str
    segment: str
    send_at: datetime | None
    template: Template
    digest: str
    test: SubjectTest | None = None  # an A/B test of subject lines (``subject`` is its first variant)


@dataclass(frozen=True)
class Audiences:
    segments: MappingProxyType[str, Segment]
    broadcasts: MappingProxyType[str, Broadcast]


EMPTY = Audiences(MappingProxyType({}), MappingProxyType({}))


def audiences_of(library: Library) -> Audiences:
    value = library.sections.get(SECTION)
    return value if isinstance(value, Audiences) else EMPTY


def _list(value: Any, path: tuple[str, ...], c: KeyChecker) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(i, (dict, list)) or i in (None, "") for i in items):
        c.error(path, f"{path[0]} must be a value or a list of values, e.g. {path[0]}: [a, b]")
        return ()
    return tuple(str(i).strip() for i in items)


def load_segment(path: Path, rel: str, library: Library) -> tuple[Segment | None, list[Issue]]:
    """Read one segment file; every condition is checked against the library (problems, stages)."""
    data, lines, unreadable = read_yaml(path, rel)
    if unreadable:
        return None, unreadable
    c = KeyChecker(rel, lines)
    top = c.mapping(data, (), SEGMENT_KEYS)
    if not top:
        c.error((), "the segment is empty; give it at least consent: true and one condition (see docs/marketer.md)")
        return None, c.issues
    consent = top.get("consent", False)
    if not isinstance(consent, bool):
        c.error(("consent",), f"consent must be true or false, not {consent!r}")
        consent = False
    problems = _list(top.get("problems"), ("problems",), c)
    for p in problems:
        if p not in library.problems:
            c.error(("problems",), f"problem {p!r} is not in problems.yml{suggest(p, library.problems)}")
    minimum = top.get("min_interest", 0)
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or minimum < 0:
        c.error(("min_interest",), f"min_interest must be a number of points, 0 or more, not {minimum!r}")
        minimum = 0
    elif minimum and not problems:
        c.error(("min_interest",), "min_interest applies to problems; add problems: [<problem>]")
    modes = _list(top.get("mode"), ("mode",), c)
    for m in modes:
        if m not in MODES:
            c.error(("mode",), f"mode {m!r} is not one of {', '.join(MODES)}")
    grades = tuple(g.upper() for g in _list(top.get("grade"), ("grade",), c))
    for g in grades:
        if g not in GRADES:
            c.error(("grade",), f"grade {g!r} is not one of {', '.join(GRADES)}")
    stage = top.get("stage")
    if stage is not None and str(stage) not in library.site.stage_slugs:
        c.error(("stage",), f"stage {stage!r} is not one of {', '.join(library.site.stage_slugs)}")
    sources = tuple(s.lower() for s in _list(top.get("source"), ("source",), c))
    companies = tuple(s.casefold() for s in _list(top.get("company"), ("company",), c))
    lists = _list(top.get("list"), ("list",), c)
    lifecycle = _list(top.get("lifecycle"), ("lifecycle",), c)
    for stage_ in lifecycle:
        if stage_ not in LIFECYCLE:
            c.error(("lifecycle",), f"lifecycle {stage_!r} is not one of {', '.join(LIFECYCLE)}")
    if c.failed:
        return None, c.issues
    name = f.text(top.get("name") or path.stem, 200)
    return Segment(path.stem, name, rel, consent, problems, float(minimum), modes, grades,
                   str(stage) if stage is not None else None, sources, companies, lists, lifecycle), c.issues


def load_broadcast(path: Path, rel: str, library: Library,
                   segments: dict[str, Segment]) -> tuple[Broadcast | None, list[Issue]]:
    """Read one broadcast: front matter (subject or an A/B test's subjects, preheader, segment, send_at) and a
    Markdown body."""
    read, issues = read_email(path, rel, tags=BROADCAST_TAGS, extra_keys=BROADCAST_KEYS, unknown="error",
                              where=" in a broadcast", example="Novedades de diciembre", want_preheader=False)
    if read is None:
        return None, issues
    try:
        segment = f.text(read.raw.meta.get("segment"), 100)
    except f.FieldProblem as exc:
        read.error(f"segment {exc.message}", "segment")
        segment = "-"
    if not segment:
        read.error("segment is missing: name a file of segments/, e.g. segment: newsletter", "segment")
    elif segment == "-":
        pass
    elif segment not in segments:
        read.error(f"segment {segment!r} is not in segments/ (or has errors){suggest(segment, segments)}", "segment")
    elif not segments[segment].consent:  # loaded, so that sending it is refused with this reason
        read.warning(f"segment {segment!r} does not filter on consent: sending will be refused until "
                     f"{segments[segment].source_file} says consent: true", "segment")
    send_at = None
    try:
        send_at = f.a_moment(read.raw.meta.get("send_at"))
    except f.FieldProblem as exc:
        read.error(f"send_at {exc.message}", "send_at")
    if read.failed:
        return None, read.issues
    return Broadcast(read.slug, rel, read.subject, read.preheader, segment, send_at, read.template(library),
                     read.digest, read.test), read.issues


class AudiencesExtension:
    """Loads segments/*.yml and broadcasts/*.md with the library (`cabos check` reports their issues)."""

    def __call__(self, root: Path, library: Library) -> tuple[str, Audiences, list[Issue]]:
        issues: list[Issue] = []
        segments: dict[str, Segment] = {}
        for path in sorted((root / "segments").glob("*.yml")) if (root / "segments").is_dir() else ():
            segment, found = load_segment(path, f"segments/{path.name}", library)
            issues += found
            if segment is not None:
                segments[segment.slug] = segment
        broadcasts: dict[str, Broadcast] = {}
        for path in sorted((root / "broadcasts").glob("*.md")) if (root / "broadcasts").is_dir() else ():
            rel = f"broadcasts/{path.name}"
            broadcast, found = load_broadcast(path, rel, library, segments)
            issues += found
            if broadcast is not None:
                if broadcast.slug in broadcasts:
                    issues.append(Issue("error", rel, f"slug {broadcast.slug!r} is already used by "
                                        f"{broadcasts[broadcast.slug].source_file}", field="slug"))
                else:
                    broadcasts[broadcast.slug] = broadcast
        return SECTION, Audiences(MappingProxyType(segments), MappingProxyType(broadcasts)), issues


def content_extension() -> AudiencesExtension:
    return AudiencesExtension()
