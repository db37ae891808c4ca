"""content/sequences/*.yml and content/emails/*.md, loaded and checked with the library.

``NurtureExtension`` is a content-loader extension: it reads every email and
sequence, checks them against the library (guides, problems, emails, tags)
and returns them as ``library.sections["nurture"]``. Every problem is an
``Issue`` with file, line and field. A file with errors is left out, or, if
it broke on reload, its last good version is kept, like articles.

A sequence::

    name: Bienvenida a la guía de inventario
    trigger:
      guide: guia-inventario-que-cuadra   # or  interest: <problem> [min: 5]  or  mode: information
    steps:
      - email: inventario-bienvenida      # content/emails/inventario-bienvenida.md
        wait: 0                           # after entering; later steps: after the previous one
      - email: inventario-siguiente-lectura
        wait: 3d                          # 30m, 2h, 3d, 1w
        when: {mode: information}         # optional: otherwise this step is skipped
    exit: [purchase_mode, handoff, unsubscribe]
    reentry: never                        # never | always | a wait such as 90d
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cabos.content import fields as f
from cabos.content.library import Library
from cabos.content.model import Issue
from cabos.content.yamlfile import KeyChecker, read_yaml, suggest, top_lines
from cabos.content.yamlfile import KeyPath as Path_
from cabos.nurture.email_files import format_duration, parse_duration, read_email  # noqa: F401 (cli, tests)
from cabos.nurture.email_files import SubjectTest
from cabos.nurture.emails import ARTICLE_TAGS, TAGS, Template

SECTION = "nurture"
EXITS = ("purchase_mode", "handoff", "unsubscribe")
MODES = ("information", "purchase")
TRIGGERS = ("guide", "interest", "mode")
NEVER, ALWAYS, AFTER = "never", "always", "after"


@dataclass(frozen=True)
class Condition:
    """What must hold about a contact: a mode, and/or interest in a problem."""

    mode: str | None = None
    problem: str | None = None
    min_interest: float | None = None  # None: the problem must be the contact's top problem

    def describe(self) -> str:
        parts = []
        if self.mode:
            parts.append(f"in {self.mode} mode")
        if self.problem:
            parts.append(f"interest in {self.problem} ≥ {self.min_interest:g}" if self.min_interest is not None
                         else f"top problem is {self.problem}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Trigger:
    kind: str  # guide | interest | mode
    guide: str | None = None
    condition: Condition | None = None  # interest and mode triggers

    def describe(self) -> str:
        return f"asked for guide {self.guide}" if self.kind == "guide" else (self.condition or Condition()).describe()


@dataclass(frozen=True)
class Step:
    id: str
    email: str
    wait: timedelta
    when: Condition | None = None


@dataclass(frozen=True)
class Sequence:
    slug: str
    name: str
    source: str
    trigger: Trigger
    steps: tuple[Step, ...]
    exits: frozenset[str]
    reentry: str = NEVER
    reentry_after: timedelta = timedelta(0)
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def position(self, step_id: str | None, fallback: int) -> int:
        """Where the step with ``step_id`` is now (it may have moved); ``fallback`` if it is gone."""
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        return fallback


@dataclass(frozen=True)
class Email:
    slug: str
    source: str
    subject: str
    preheader: str
    template: Template
    digest: str
    test: SubjectTest | None = None  # an A/B test of subject lines (``subject`` is its first variant)

    @property
    def needs_article(self) -> bool:
        lines = self.test.subjects if self.test else (self.subject,)
        return bool(self.template.tags & ARTICLE_TAGS) or any(t in "".join(lines) + self.preheader
                                                              for t in ARTICLE_TAGS)


@dataclass(frozen=True)
class Nurture:
    sequences: MappingProxyType[str, Sequence]
    emails: MappingProxyType[str, Email]

    def for_guide(self, slug: str) -> list[Sequence]:
        return [s for s in self.sequences.values() if s.trigger.kind == "guide" and s.trigger.guide == slug]

    @property
    def by_state(self) -> list[Sequence]:
        """Sequences entered on a contact's state (interest, mode) rather than an event."""
        return [s for s in self.sequences.values() if s.trigger.kind != "guide"]


EMPTY = Nurture(MappingProxyType({}), MappingProxyType({}))


def nurture_of(library: Library) -> Nurture:
    """The sequences and emails loaded with ``library`` (none if the extension is not wired)."""
    value = library.sections.get(SECTION)
    return value if isinstance(value, Nurture) else EMPTY


# --- emails ---------------------------------------------------------------------------------------


def load_email(path: Path, rel: str, library: Library) -> tuple[Email | None, list[Issue]]:
    """Read one email: subject (or an A/B test's subjects) and preheader in front matter, Markdown body with tags."""
    read, issues = read_email(path, rel, tags=TAGS)
    if read is None or read.failed:
        return None, issues
    email = Email(slug=read.slug, source=rel, subject=read.subject, preheader=read.preheader,
                  template=read.template(library), digest=read.digest, test=read.test)
    return email, read.issues


# --- sequences -------------------------------------------------------------------------------------


def load_sequence(path: Path, rel: str, library: Library, emails: dict[str, Email],
                  broken_emails: set[str]) -> tuple[Sequence | None, list[Issue]]:
    """Read and check one sequence file against the library and the loaded emails."""
    data, lines, unreadable = read_yaml(path, rel)
    if unreadable:
        return None, unreadable
    c = KeyChecker(rel, lines)
    top = c.mapping(data, (), ("name", "description", "trigger", "steps", "exit", "reentry"))
    if data is None or not top:
        c.error((), "the sequence is empty; it needs a trigger and steps (see docs/marketer.md, Nurture)")
        return None, c.issues
    name = str(top.get("name") or path.stem)
    trigger = _trigger(top.get("trigger"), library, c)
    steps = _steps(top.get("steps"), library, emails, broken_emails, c)
    exits = _exits(top.get("exit"), c)
    reentry, after = _reentry(top.get("reentry", NEVER), c)
    if c.failed or trigger is None:
        return None, c.issues
    lines = top_lines(c.lines)
    return Sequence(path.stem, name, rel, trigger, steps, exits, reentry, after, lines), c.issues


def _condition(value: Any, path: Path_, library: Library, c: KeyChecker, what: str) -> Condition | None:
    item = c.mapping(value, path, ("mode", "interest", "min"))
    if not item:
        c.error(path, f"{what} needs mode: information|purchase and/or interest: <problem>")
        return None
    mode = item.get("mode")
    if mode is not None and mode not in MODES:
        c.error((*path, "mode"), f"mode {mode!r} is not one of {', '.join(MODES)}")
    problem = item.get("interest")
    if problem is not None and str(problem) not in library.problems:
        c.error((*path, "interest"),
                f"problem {problem!r} is not in problems.yml{suggest(str(problem), library.problems)}")
    minimum = item.get("min")
    if minimum is not None:
        if problem is None:
            c.error((*path, "min"), "min applies to an interest; add interest: <problem>")
        if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or minimum < 0:
            c.error((*path, "min"), f"min must be a number of points, 0 or more, not {minimum!r}")
            minimum = None
    if mode is None and problem is None:
        c.error(path, f"{what} needs mode: information|purchase and/or interest: <problem>")
    return Condition(mode=mode, problem=str(problem) if problem is not None else None,
                     min_interest=float(minimum) if minimum is not None else None)


def _trigger(value: Any, library: Library, c: KeyChecker) -> Trigger | None:
    path: Path_ = ("trigger",)
    if value is None:
        c.error((), "trigger is missing; e.g. 'trigger: {guide: my-guide}' or 'trigger: {interest: my-problem}'")
        return None
    item = c.mapping(value, path, ("guide", "mode", "interest", "min"))
    if "guide" in item:
        if len(item) > 1:
            c.error(path, "a guide trigger stands alone; use 'when' on the steps for other conditions")
        slug = str(item["guide"])
        scheduled = any(d.kind == "guide" and d.slug == slug for d in library.scheduled)
        if slug not in library.guides and not scheduled:  # a scheduled guide is ready when it goes live
            if any(d.kind == "guide" and d.slug == slug for d in library.drafts):
                c.warn((*path, "guide"), f"guide {slug!r} is a draft: nobody can enter until it is published")
            else:
                c.error((*path, "guide"), f"guide {slug!r} does not exist in guides/{suggest(slug, library.guides)}")
                return None
        return Trigger("guide", guide=slug)
    if not item:
        return None
    condition = _condition(item, path, library, c, "trigger")
    if condition is None:
        return None
    return Trigger("interest" if condition.problem else "mode", condition=condition)


def _steps(value: Any, library: Library, emails: dict[str, Email], broken: set[str],
           c: KeyChecker) -> tuple[Step, ...]:
    if not isinstance(value, list) or not value:
        c.error(("steps",), "steps must be a list with at least one step, e.g. '- {email: welcome, wait: 0}'")
        return ()
    steps: list[Step] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        path: Path_ = ("steps", i)
        item = c.mapping(raw, path, ("id", "email", "wait", "when"))
        if not item:
            continue
        email = str(item.get("email") or "")
        if not email:
            c.error(path, "each step sends an email: add email: <file name in emails/, without .md>")
            continue
        if email not in emails:
            if email in broken:
                c.error((*path, "email"), f"email {email!r} has errors (see emails/{email}.md)")
            else:
                c.error((*path, "email"), f"email {email!r} does not exist in emails/{suggest(email, emails)}")
        try:
            wait = parse_duration(item.get("wait", 0))
        except f.FieldProblem as exc:
            c.error((*path, "wait"), f"wait {exc.message}")
            wait = timedelta(0)
        step_id = str(item.get("id") or email)
        try:
            f.slug(step_id)
        except f.FieldProblem as exc:
            c.error((*path, "id"), f"id {exc.message}")
        if step_id in seen:
            c.error(path, f"step id {step_id!r} is used twice; give one of them an id, e.g. id: {step_id}-2")
        seen.add(step_id)
        when = _condition(item["when"], (*path, "when"), library, c, "when") if "when" in item else None
        steps.append(Step(step_id, email, wait, when))
    return tuple(steps)


def _exits(value: Any, c: KeyChecker) -> frozenset[str]:
    if value is None:
        return frozenset(EXITS)  # the safe default: purchase mode and handoffs stop the sequence
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        c.error(("exit",), f"exit must be a list of: {', '.join(EXITS)}")
        return frozenset(EXITS)
    for item in items:
        if item not in EXITS:
            c.error(("exit",), f"exit {item!r} is not one of {', '.join(EXITS)}")
    if "purchase_mode" not in items:
        c.warn(("exit",), "purchase_mode is not an exit: contacts in purchase mode keep receiving this sequence")
    # An unsubscribe always stops every sequence, listed or not.
    return frozenset(i for i in items if i in EXITS) | {"unsubscribe"}


def _reentry(value: Any, c: KeyChecker) -> tuple[str, timedelta]:
    if value in (NEVER, None, False):
        return NEVER, timedelta(0)
    if value in (ALWAYS, True):
        return ALWAYS, timedelta(0)
    try:
        return AFTER, parse_duration(value)
    except f.FieldProblem:
        c.error(("reentry",), f"reentry must be never, always or a wait such as 90d, not {value!r}")
        return NEVER, timedelta(0)


# --- the extension ------------------------------------------------------------------------------------


class NurtureExtension:
    """Loads emails and sequences with the library; a broken file keeps its last good version."""

    section = SECTION

    def __init__(self) -> None:
        self._good: dict[str, Any] = {}

    def __call__(self, root: Path, library: Library) -> tuple[str, Nurture, list[Issue]]:
        issues: list[Issue] = []
        emails: dict[str, Email] = {}
        broken: set[str] = set()
        for path in sorted((root / "emails").glob("*.md")) if (root / "emails").is_dir() else ():
            rel = f"emails/{path.name}"
            email, found = load_email(path, rel, library)
            issues += found
            email = self._keep(rel, email, issues)
            if email is None:
                broken.add(path.stem)
            elif email.slug in emails:
                issues.append(Issue("error", rel, f"slug {email.slug!r} is already used by {emails[email.slug].source}",
                                    field="slug"))
            else:
                emails[email.slug] = email
        sequences: dict[str, Sequence] = {}
        used: set[str] = set()
        for path in sorted((root / "sequences").glob("*.yml")) if (root / "sequences").is_dir() else ():
            rel = f"sequences/{path.name}"
            sequence, found = load_sequence(path, rel, library, emails, broken)
            issues += found
            sequence = self._keep(rel, sequence, issues)
            if sequence is not None:
                sequences[sequence.slug] = sequence
                used |= {s.email for s in sequence.steps}
        for email in emails.values():
            if email.slug not in used:
                issues.append(Issue("warning", email.source, "no sequence sends this email"))
        return self.section, Nurture(MappingProxyType(sequences), MappingProxyType(emails)), issues

    def _keep(self, rel: str, value: Any, issues: list[Issue]) -> Any:
        if value is not None:
            self._good[rel] = value
            return value
        if rel in self._good:
            issues.append(Issue("warning", rel, "has errors: cabos keeps using its last good version"))
            return self._good[rel]
        return None
