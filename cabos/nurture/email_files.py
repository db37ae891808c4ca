"""One reader for the Markdown emails of the content folder: nurture emails (``emails/*.md``) and
broadcasts (``broadcasts/*.md``).

Both have the same front matter (``subject``, ``preheader``, ``slug``, and an A/B subject test) and
the same checks (tags in the subject lines and the body, an empty body), each issue with file, line
and key; a broadcast adds its own keys (segment, send_at) and allows fewer tags.

An A/B subject test replaces ``subject`` with two to five ``subjects``::

    subjects:
      - "Tu inventario, en una tarde"
      - "{{ first_name | 'Hola' }}, ¿cuadra tu stock?"
    test_share: 0.2            # the share of recipients in the test (0 < share < 1; default 0.2)
    pick_winner_after: 4h      # then the subject with the best click rate goes to the rest (default 4h)

``cabos.nurture.subject_tests`` says who gets which subject and picks the winner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cabos.content import fields as f
from cabos.content.library import Library
from cabos.content.media import References
from cabos.content.model import Issue
from cabos.content.reader import FrontMatterError, RawDocument, not_utf8, read_text
from cabos.content.yamlfile import suggest
from cabos.nurture.emails import LINK_TAGS, Template, compile_body, find_tags

TEST_KEYS = ("subjects", "test_share", "pick_winner_after")
EMAIL_KEYS = ("subject", "preheader", "slug", *TEST_KEYS)
MAX_SUBJECTS = 5
DEFAULT_SHARE = 0.2
DEFAULT_WAIT = timedelta(hours=4)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)?$")


def parse_duration(value: Any) -> timedelta:
    """'0', '30m', '2h', '3d', '1w' → timedelta; FieldProblem otherwise."""
    if isinstance(value, bool) or value is None:
        raise f.FieldProblem(f"{value!r} is not a wait; write e.g. 0, 2h, 3d or 1w")
    text = str(value).strip().lower()
    m = _DURATION.match(text)
    if m is None:
        raise f.FieldProblem(f"{value!r} is not a wait; write e.g. 0, 30m, 2h, 3d or 1w")
    amount, unit = float(m.group(1)), m.group(2)
    if unit is None and amount != 0:
        raise f.FieldProblem(f"{value!r} has no unit; write e.g. {m.group(1)}d (m, h, d or w)")
    return timedelta(seconds=amount * _UNITS.get(unit or "d", 0))


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", _UNITS["w"]), ("d", _UNITS["d"]), ("h", _UNITS["h"]), ("m", _UNITS["m"])):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0" if not seconds else f"{seconds}s"


@dataclass(frozen=True)
class SubjectTest:
    """An A/B test of subject lines: the variants in file order (the first one is the control)."""

    subjects: tuple[str, ...]
    share: float = DEFAULT_SHARE
    wait: timedelta = DEFAULT_WAIT

    @property
    def digest(self) -> str:
        """Changes when the subject lines do: an edited test is a new test."""
        return hashlib.sha256("\n".join(self.subjects).encode()).hexdigest()[:8]


@dataclass
class EmailFile:
    """One email file read and checked; ``template()`` compiles its body once no error was found."""

    rel: str
    raw: RawDocument
    raw_bytes: bytes
    issues: list[Issue]
    subject: str = ""
    preheader: str = ""
    slug: str = ""
    test: SubjectTest | None = None

    def error(self, message: str, fld: str | None = None, line: int | None = None) -> None:
        self.issues.append(Issue("error", self.rel, message, line or self.raw.lines.get(fld or "") or
                                 (1 if fld else None), fld))

    def warning(self, message: str, fld: str | None = None) -> None:
        self.issues.append(Issue("warning", self.rel, message, self.raw.lines.get(fld or ""), fld))

    @property
    def failed(self) -> bool:
        return any(i.severity == "error" for i in self.issues)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw_bytes).hexdigest()[:16]

    def template(self, library: Library) -> Template:
        """The body compiled for ``library``'s brand; references to media resolved (warnings if not)."""
        refs = library.references or References(library.media, {})

        def resolve(reference: str) -> str | None:
            address, problem = refs.resolve(self.rel, reference)
            if problem:
                self.issues.append(Issue("warning", self.rel, problem))
            return address

        return compile_body(self.raw.body, library.site.brand, resolve)


def read_email(path: Path, rel: str, *, tags: Collection[str], extra_keys: tuple[str, ...] = (),
               unknown: str = "warning", where: str = "", example: str = "Tu guía, y por dónde empezar",
               want_preheader: bool = True) -> tuple[EmailFile | None, list[Issue]]:
    """Read ``path`` and check what every email has; None (and the issues) if it cannot be read at all.

    ``tags``: the tags this kind of email may use; ``unknown``: the severity of a key that is not
    ``EMAIL_KEYS`` + ``extra_keys`` (an error where a typo would change who gets the email).
    """
    try:
        raw_bytes = path.read_bytes()
        raw = read_text(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [Issue("error", rel, *not_utf8(exc))]
    except FrontMatterError as exc:
        hint = ""
        if "{{" in raw_bytes.decode("utf-8", "replace").split("---", 2)[1 if raw_bytes.startswith(b"---") else 0]:
            hint = (" (a value with a tag must be quoted, and a fallback inside uses the other quote: "
                    "subject: \"Hola {{ first_name | 'amigo' }}\")")
        return None, [Issue("error", rel, exc.message + hint, exc.line, exc.field)]
    email = EmailFile(rel, raw, raw_bytes, [])
    known = (*EMAIL_KEYS, *extra_keys)
    for key in raw.meta:
        if key not in known:
            if unknown == "error":
                email.error(f"unknown key {key!r}{suggest(str(key), known)}", str(key))
            else:
                email.warning(f"unknown key {key!r} is ignored{suggest(str(key), known)}", str(key))
    email.subject = _text(email, "subject", 150)
    email.test = _subject_test(email)
    if email.test is not None:
        if email.subject:
            email.error("write either subject or subjects (the A/B test's variants), not both", "subject")
        email.subject = email.test.subjects[0]
    elif not email.subject and "subjects" not in raw.meta:
        email.error(f"subject is missing; add e.g. subject: \"{example}\"", "subject")
    email.preheader = _text(email, "preheader", 200)
    if not email.preheader and want_preheader:
        email.warning("preheader is missing: inboxes will show the first words of the body", "preheader")
    lines = [("subjects", s) for s in (email.test.subjects if email.test else ())] or [("subject", email.subject)]
    for fld, value in (*lines, ("preheader", email.preheader)):
        found, malformed = find_tags(value)
        for _line, text in malformed:
            email.error(f"{text} is not a tag; write e.g. {{{{ first_name }}}} or {{{{ first_name | \"hola\" }}}}", fld)
        for tag in found:
            if tag.name not in tags:
                email.error(f"unknown tag {{{{ {tag.name} }}}}{where}{suggest(tag.name, tags)}", fld)
            elif tag.name in LINK_TAGS:
                email.error(f"{{{{ {tag.name} }}}} is a link and only fits in the body; use "
                            f"{{{{ {tag.name}.title }}}}", fld)
    found, malformed = find_tags(raw.body)
    for n, text in malformed:
        email.error(f"{text} is not a tag; write e.g. {{{{ first_name }}}} or {{{{ first_name | \"hola\" }}}}",
                    line=raw.body_line + n - 1)
    for tag in found:
        if tag.name not in tags:
            email.error(f"unknown tag {{{{ {tag.name} }}}}{where}{suggest(tag.name, tags)}", "body",
                        raw.body_line + tag.line - 1)
    if not raw.body.strip():
        email.error("the body is empty: write the email below the front matter", line=raw.body_line)
    email.slug = path.stem
    if "slug" in raw.meta:
        try:
            email.slug = f.slug(raw.meta["slug"])
        except f.FieldProblem as exc:
            email.error(f"slug {exc.message}", "slug")
    return email, email.issues


def _text(email: EmailFile, key: str, limit: int) -> str:
    if key not in email.raw.meta:
        return ""
    try:
        return f.text(email.raw.meta[key], limit)
    except f.FieldProblem as exc:
        email.error(f"{key} {exc.message}", key)
        return ""


def _subject_test(email: EmailFile) -> SubjectTest | None:
    """The A/B test of the front matter (``subjects``, ``test_share``, ``pick_winner_after``), checked."""
    meta = email.raw.meta
    if "subjects" not in meta:
        for key in ("test_share", "pick_winner_after"):
            if key in meta:
                email.error(f"{key} applies to an A/B subject test; add subjects: [\"…\", \"…\"]", key)
        return None
    value = meta["subjects"]
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_SUBJECTS:
        email.error(f"subjects must be a list of 2 to {MAX_SUBJECTS} subject lines, e.g. subjects: [\"A\", \"B\"]",
                    "subjects")
        return None
    subjects: list[str] = []
    for n, item in enumerate(value, 1):
        try:
            text = f.text(item, 150)
        except f.FieldProblem as exc:
            email.error(f"subject line {n} {exc.message}", "subjects")
            continue
        if not text:
            email.error(f"subject line {n} is empty; write a subject or remove the line", "subjects")
        elif text in subjects:
            email.error(f"subject line {n} repeats line {subjects.index(text) + 1}; variants must differ", "subjects")
        subjects.append(text)
    share = meta.get("test_share", DEFAULT_SHARE)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        email.error(f"test_share must be a share between 0 and 1 (e.g. 0.2 for 20 %), not {share!r}", "test_share")
        share = DEFAULT_SHARE
    wait = DEFAULT_WAIT
    if "pick_winner_after" in meta:
        try:
            wait = parse_duration(meta["pick_winner_after"])
        except f.FieldProblem as exc:
            email.error(f"pick_winner_after {exc.message}", "pick_winner_after")
        else:
            if wait <= timedelta(0):
                email.error("pick_winner_after must be longer than 0, e.g. 4h", "pick_winner_after")
    return SubjectTest(tuple(subjects), float(share), wait)
