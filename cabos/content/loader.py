"""Load the content folder into a validated, immutable Library.

``load_library(path)`` is the one entry point. It collects *every* problem
in the library (file, line, field) before anyone decides to fail; a file
with errors is left out of the library, or, on reload, replaced by its last
good version, so one bad file never takes the site down.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cabos.content import contrast
from cabos.content import fields as f
from cabos.content.library import Library
from cabos.content.media import MediaFile, MediaScanner, References, blocked, defer_frames, leaves
from cabos.content.model import Brand, Document, Embeds, Issue, Kind, NavLink, Problem, Site, Stage, document_path
from cabos.content.reader import FrontMatterError, not_utf8, read_text
from cabos.content.render import Renderer, post_date, slugify, strip_template_tags
from cabos.content.yamlfile import read_yaml, top_lines

# Folder -> document kind. Order matters only for error messages.
FOLDERS: dict[str, Kind] = {"articles": "article", "guides": "guide", "pages": "page"}
LANGUAGES = ("es", "en")
CONSENT_MODES = ("required", "notice", "off")
# Fields cabos needs: missing ones get a default and a warning.
WARN_IF_MISSING = {
    "article": ("title", "summary", "problems", "stage", "date"),
    "guide": ("title", "summary", "problems", "date"),
    "page": ("title",),
}

# An extension loads one more part of the content folder (intent rules,
# sequences, emails) once the core library exists, and reports its issues.
Extension = Callable[[Path, Library], tuple[str, Any, list[Issue]]]


class Collector:
    """Gathers issues for one file, with line numbers from the front matter."""

    def __init__(self, file: str, lines: dict[str, int] | None = None) -> None:
        self.file = file
        self.lines = lines or {}
        self.issues: list[Issue] = []

    def error(self, message: str, fld: str | None = None, line: int | None = None) -> None:
        self.issues.append(Issue("error", self.file, message, line or self.lines.get(fld or ""), fld))

    def warn(self, message: str, fld: str | None = None, line: int | None = None) -> None:
        self.issues.append(Issue("warning", self.file, message, line or self.lines.get(fld or ""), fld))

    def field(self, meta: dict[str, Any], key: str, process: Callable[[Any], Any], default: Any = None) -> Any:
        if key not in meta:
            return default
        try:
            return process(meta[key])
        except f.FieldProblem as exc:
            self.error(f"{key} {exc.message}" if not exc.message.startswith(key) else exc.message, key)
            return default

    @property
    def failed(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


# --- site.yml and problems.yml -------------------------------------------------


def _warn_unreadable(c: Collector, brand: Brand) -> None:
    """A brand colour that cannot carry text (WCAG 2.2 AA, 4.5:1): say so, and name the nearest one that can."""
    pairs = (("primary", brand.primary, brand.primary_ink, "white text on it and text in it on the background"),
             ("accent", brand.accent, brand.accent_ink, "white text on it and text in it on the background"),
             ("text", brand.text, brand.text_ink, "on the background"))
    for key, colour, ink, where in pairs:
        if ink.lower() != colour.lower():
            worst = min(contrast.ratio(colour, other) for other in
                        ((brand.background,) if key == "text" else (contrast.WHITE, brand.background)))
            c.warn(f"brand {key} {colour} carries text at {worst:.1f}:1 ({where}); WCAG 2.2 AA needs 4.5:1. "
                   f"The site writes that text in {ink}, the nearest colour that can: set `{key}: \"{ink}\"` "
                   "to choose it yourself", "brand")


def load_site(root: Path) -> tuple[Site, list[Issue]]:
    data, lines, issues = read_yaml(root / "site.yml", "site.yml")
    if data is None:
        return Site(), issues
    c = Collector("site.yml", top_lines(lines))
    if not isinstance(data, dict):
        c.error("site.yml must be a mapping of 'key: value' lines")
        return Site(), issues + c.issues

    def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
        def check(value: Any) -> str:
            if value not in options:
                raise f.FieldProblem(f"{value!r} is not one of {', '.join(options)}")
            return str(value)
        return check

    brand_raw = data.get("brand") or {}
    brand = Brand()
    if isinstance(brand_raw, dict):
        colours = {k: c.field(brand_raw, k, f.colour) for k in ("primary", "accent", "text", "background")}
        brand = Brand(**{k: v for k, v in colours.items() if v}, logo=brand_raw.get("logo"))
        _warn_unreadable(c, brand)
    else:
        c.error("brand must be a mapping of colours (primary, accent, text, background)", "brand")

    navigation = []
    for item in data.get("navigation") or []:
        if isinstance(item, dict) and item.get("label") and item.get("url"):
            navigation.append(NavLink(str(item["label"]), str(item["url"])))
        else:
            c.error(f"navigation entry {item!r} needs a label and a url", "navigation")

    stages = list(Site().stages)
    if "stages" in data:
        stages = []
        for item in data.get("stages") or []:
            if isinstance(item, dict) and item.get("slug"):
                try:
                    stages.append(Stage(f.slug(item["slug"]), str(item.get("name") or item["slug"]),
                                        str(item.get("description") or "")))
                except f.FieldProblem as exc:
                    c.error(f"stage {exc.message}", "stages")
            else:
                c.error(f"stage {item!r} needs a slug and a name", "stages")
        if not stages:
            c.error("stages must list at least one stage, e.g. learn, compare, decide", "stages")
            stages = list(Site().stages)
        elif len({s.slug for s in stages}) != len(stages):
            c.error("a stage slug is listed twice", "stages")

    embeds = Embeds()
    if isinstance(data.get("embeds"), dict):
        for key in data["embeds"]:
            if key not in ("images", "frames", "media"):
                c.error(f"embeds.{key} is not known; use images, frames or media", "embeds")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("images", "frames", "media"):
            try:
                lists[key] = f.origins(data["embeds"].get(key))
            except f.FieldProblem as exc:
                c.error(f"embeds.{key} {exc.message}", "embeds")
        embeds = Embeds(**lists)
    elif data.get("embeds") is not None:
        c.error("embeds must be a mapping: images, frames and media, each a list of https addresses", "embeds")

    known = {"name", "tagline", "description", "language", "base_url", "consent", "brand",
             "navigation", "stages", "target_profile", "embeds"}
    site = Site(
        name=c.field(data, "name", lambda v: f.text(v, 100), "cabos") or "cabos",
        tagline=c.field(data, "tagline", f.text, ""),
        description=c.field(data, "description", f.text, ""),
        language=c.field(data, "language", choice(LANGUAGES), "es"),
        base_url=c.field(data, "base_url", lambda v: f.text(v, 200).rstrip("/"), Site.base_url),
        # YAML 1.1 reads an unquoted `off` as false: that is what the marketer meant.
        consent=c.field({**data, "consent": "off"} if data.get("consent") is False else data,
                        "consent", choice(CONSENT_MODES), "notice"),
        brand=brand,
        navigation=tuple(navigation),
        stages=tuple(stages),
        target_profile=data.get("target_profile") if isinstance(data.get("target_profile"), dict) else {},
        embeds=embeds,
        extra={k: v for k, v in data.items() if k not in known},
    )
    if "language" not in data:
        c.warn("language is not set; using es (Spanish). Set language: es or language: en", "language")
    return site, issues + c.issues


def load_problems(root: Path) -> tuple[dict[str, Problem], list[Issue]]:
    data, key_paths, issues = read_yaml(root / "problems.yml", "problems.yml")
    if data is None:
        return {}, issues
    c = Collector("problems.yml")
    lines = top_lines(key_paths)
    if isinstance(data, dict) and isinstance(data.get("problems"), list):
        data = data["problems"]
    if not isinstance(data, list):
        c.error("problems.yml must be a list of problems, each with slug, name, description, questions")
        return {}, issues + c.issues
    problems: dict[str, Problem] = {}
    for i, item in enumerate(data):
        line = lines.get(str(i))
        if not isinstance(item, dict):
            c.error(f"problem #{i + 1} must be a mapping with slug, name, description, questions", line=line)
            continue
        try:
            slug = f.slug(item.get("slug") or "")
        except f.FieldProblem as exc:
            c.error(f"problem #{i + 1}: slug {exc.message}", "slug", line)
            continue
        if slug in problems:
            c.error(f"problem slug {slug!r} is listed twice", "slug", line)
            continue
        if not item.get("name"):
            c.error(f"problem {slug!r} needs a name", "name", line)
        questions = item.get("questions") or []
        if not isinstance(questions, list):
            c.error(f"questions of problem {slug!r} must be a list", "questions", line)
            questions = []
        problems[slug] = Problem(slug, str(item.get("name") or slug), str(item.get("description") or ""),
                                 tuple(str(q) for q in questions))
    if not problems and not c.failed:
        c.warn("no buyer problems defined: the home page will be empty")
    return problems, issues + c.issues


# --- documents -------------------------------------------------------------------


@dataclass
class Parsed:
    """One file's result: the document (None if it failed) and its issues."""

    doc: Document | None
    issues: list[Issue]
    stamp: tuple[int, int]
    meta_problems: tuple[str, ...] = ()
    meta_stage: str | None = None


def parse_document(path: Path, rel: str, kind: Kind, site: Site, renderer: Renderer) -> Parsed:
    """Read and normalise one Markdown file; cross-file checks come later."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    try:
        raw_bytes = path.read_bytes()
        source = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Parsed(None, [Issue("error", rel, *not_utf8(exc))], stamp)
    try:
        raw = read_text(source)
    except FrontMatterError as exc:
        return Parsed(None, [Issue("error", rel, exc.message, exc.line, exc.field)], stamp)

    c = Collector(rel, raw.lines)
    meta = raw.meta
    dated = post_date(path.stem)  # Jekyll's 2024-03-01-title.md: the date and the slug are in the name
    for key in WARN_IF_MISSING[kind]:
        if key == "date" and dated:
            continue
        if key not in meta or meta[key] in (None, "", []):
            c.warn(_MISSING[key].format(stages=", ".join(site.stage_slugs)), key)

    body, tag_lines = strip_template_tags(raw.body)
    for n in tag_lines:
        c.warn("template tag ({% … %} or {{ … }}) removed: cabos does not run Jekyll/Hugo templates",
               line=raw.body_line + n - 1)
    if not body.strip():
        c.warn("the body is empty: readers will see only the title and summary")

    stem = dated[1] if dated else path.stem
    title = c.field(meta, "title", lambda v: f.text(v, 200)) or _title_from(body, stem)
    slug = c.field(meta, "slug", f.slug) or slugify(stem) or hashlib.sha1(stem.encode()).hexdigest()[:8]
    stage = c.field(meta, "stage", lambda v: f.text(v, 50))
    if kind != "page":
        if stage and stage not in site.stage_slugs:
            c.error(f"stage {stage!r} is not one of {', '.join(site.stage_slugs)}", "stage")
        stage = stage or site.stage_slugs[0]
    date_ = c.field(meta, "date", f.a_date) or (dated[0] if dated else None)
    draft = c.field(meta, "draft", f.boolean, False)
    publish_at = c.field(meta, "publish_at", f.a_moment)
    if "published" in meta and c.field(meta, "published", f.boolean, True) is False:
        draft = True  # Jekyll's way of saying draft
    known = {"title", "summary", "description", "problems", "stage", "author", "date", "updated",
             "lastmod", "draft", "published", "publish_at", "slug", "cover", "cover_color", "form", "thank_you"}
    rendered = renderer.render(body)
    summary = c.field(meta, "summary", f.text) or c.field(meta, "description", f.text) or _summary_from(body)
    problems = c.field(meta, "problems", f.slug_list, ())
    doc = Document(
        kind=kind, slug=slug, source=rel, title=title, summary=summary, body=body,
        html=rendered.html, toc=rendered.toc, words=rendered.words,
        reading_minutes=rendered.reading_minutes,
        problems=problems, stage=stage if kind != "page" else None,
        author=c.field(meta, "author", lambda v: f.text(v, 100), ""),
        date=date_,
        updated=c.field(meta, "updated", f.a_date) or c.field(meta, "lastmod", f.a_date),
        draft=draft,
        publish_at=publish_at,
        cover=c.field(meta, "cover", lambda v: f.text(v, 300)) or None,
        cover_color=c.field(meta, "cover_color", f.colour),
        form_fields=c.field(meta, "form", f.form_fields, ()) if kind == "guide" else (),
        thank_you=c.field(meta, "thank_you", lambda v: f.text(v, 1000), "") if kind == "guide" else "",
        extra={k: v for k, v in meta.items() if k not in known},
        digest=hashlib.sha256(raw_bytes).hexdigest(),
        lines=raw.lines,
    )
    return Parsed(None if c.failed else doc, c.issues, stamp, problems, stage)


_MISSING = {
    "title": "title is missing; using the first heading or the file name",
    "summary": "summary is missing; using the first paragraph (write one for cards and search engines)",
    "problems": "problems is missing; it will not appear on any problem page (add e.g. problems: [my-problem])",
    "stage": "stage is missing; using the first stage (one of {stages})",
    "date": "date is missing; it will be listed last (add e.g. date: 2026-03-01)",
}


def _title_from(body: str, stem: str) -> str:
    for line in body.split("\n"):
        if line.startswith("# "):
            return line[2:].strip()[:200]
    return stem.replace("-", " ").replace("_", " ").strip().capitalize() or "Untitled"


def _summary_from(body: str) -> str:
    for block in body.split("\n\n"):
        block = block.strip()
        if block and not block.startswith(("#", "|", "-", "*", "!", "<", "```", "[^")):
            text = " ".join(block.split())
            return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + "…"
    return ""


# --- the whole library -------------------------------------------------------------


@dataclass
class LibraryLoader:
    """Loads the library; on reload re-reads only changed files and keeps the
    last good version of a file that broke."""

    root: Path
    extensions: Iterable[Extension] = ()
    renderer: Renderer = field(default_factory=Renderer)
    _cache: dict[str, Parsed] = field(default_factory=dict)
    _good: dict[str, Document] = field(default_factory=dict)
    _media: MediaScanner = field(default_factory=MediaScanner)

    def load(self, now: datetime | None = None) -> Library:
        """The library as of ``now`` (default: the clock): pieces scheduled later are not published yet."""
        now = now or datetime.now(UTC)
        root = Path(self.root)
        issues: list[Issue] = []
        if not root.is_dir():
            issues.append(Issue("error", str(root), "the content folder does not exist; set CABOS_CONTENT_DIR"))
            return Library.empty(issues)
        site, site_issues = load_site(root)
        problems, problem_issues = load_problems(root)
        issues += site_issues + problem_issues

        docs: dict[Kind, list[Document]] = {"article": [], "guide": [], "page": []}
        real_root = Path(os.path.realpath(root))
        seen: set[str] = set()
        for folder, kind in FOLDERS.items():
            for path in sorted((root / folder).glob("*.md")) if (root / folder).is_dir() else ():
                if leaves(real_root, path):
                    continue  # the media scan names it as an error; its text is never read
                rel = f"{folder}/{path.name}"
                seen.add(rel)
                parsed = self._parse(path, rel, kind, site)
                issues += parsed.issues
                doc = parsed.doc
                if doc is None and rel in self._good:
                    doc = self._good[rel]
                    issues.append(Issue("warning", rel, "has errors: the site keeps serving its last good version"))
                elif doc is not None:
                    self._good[rel] = doc
                if doc is not None:
                    docs[kind].append(doc)
        for rel in set(self._cache) - seen:
            self._cache.pop(rel, None)
            self._good.pop(rel, None)

        issues += _cross_check(docs, problems)
        media, media_issues = self._media.scan(root)
        refs, ref_issues = _resolve_references(docs, media, site, now)
        library = replace(Library.build(site, problems, docs, issues + media_issues + ref_issues, now),
                          media=MappingProxyType(media), references=refs)
        for extension in self.extensions:
            name, value, ext_issues = extension(root, library)
            library = library.with_section(name, value, ext_issues)
        # Served: what the published documents and the emails refer to, nothing else.
        return replace(library, media=MappingProxyType({rel: media[rel] for rel in sorted(refs.used)}),
                       preview_media=MappingProxyType({rel: media[rel] for rel in sorted(refs.withheld - refs.used)}),
                       references=None)

    def _parse(self, path: Path, rel: str, kind: Kind, site: Site) -> Parsed:
        st = path.stat()
        cached = self._cache.get(rel)
        if cached is not None and cached.stamp == (st.st_mtime_ns, st.st_size) \
                and (cached.doc is None or cached.doc.stage is None or cached.doc.stage in site.stage_slugs):
            return cached
        parsed = parse_document(path, rel, kind, site, self.renderer)
        self._cache[rel] = parsed
        return parsed

    def stamp(self) -> tuple[tuple[str, int, int], ...]:
        """A cheap fingerprint of the folder: names, mtimes and sizes."""
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                p = os.path.join(dirpath, name)
                try:
                    st = os.stat(p)
                except FileNotFoundError:
                    continue
                out.append((p, st.st_mtime_ns, st.st_size))
        return tuple(sorted(out))


def _cross_check(docs: dict[Kind, list[Document]], problems: dict[str, Problem]) -> list[Issue]:
    """Checks that need the whole library: unknown problems, duplicate slugs."""
    issues: list[Issue] = []
    known = ", ".join(problems) or "(none defined)"
    for kind, items in docs.items():
        by_slug: dict[str, Document] = {}
        keep: list[Document] = []
        for doc in items:
            bad = [p for p in doc.problems if p not in problems]
            for p in bad:
                issues.append(Issue("error", doc.source, f"problem {p!r} is not in problems.yml (known: {known})",
                                    doc.lines.get("problems"), "problems"))
            if doc.slug in by_slug:
                issues.append(Issue("error", doc.source,
                                    f"slug {doc.slug!r} is already used by {by_slug[doc.slug].source}; "
                                    "rename the file or set a different slug", doc.lines.get("slug"), "slug"))
                continue
            by_slug[doc.slug] = doc
            keep.append(replace(doc, problems=tuple(p for p in doc.problems if p in problems)) if bad else doc)
        items[:] = keep
    return issues


def _resolve_references(docs: dict[Kind, list[Document]], media: dict[str, MediaFile],
                        site: Site, now: datetime) -> tuple[References, list[Issue]]:
    """Point images, files and links to other Markdown files at their addresses (see media.py);
    warn about whatever the page's Content-Security-Policy or the offline PDF would lose."""
    issues: list[Issue] = []
    addresses = {d.source: document_path(d.kind, d.slug, site.language) for items in docs.values() for d in items}
    hidden = frozenset(d.source for items in docs.values() for d in items
                       if d.draft or (d.release_at is not None and d.release_at > now))
    refs = References(media, addresses, hidden)
    for items in docs.values():
        for i, doc in enumerate(items):
            def warn(message: str, field: str | None = None, source: str = doc.source) -> None:
                issues.append(Issue("warning", source, message, None, field))

            body = refs.rewrite(doc.source, doc.html, warn, publish=doc.source not in hidden)
            for problem in blocked(body, site.embeds, in_pdf=doc.kind == "guide", own=site.base_url):
                warn(problem)
            body = defer_frames(body, site.base_url)
            cover = doc.cover
            if cover:
                address, problem = refs.resolve(doc.source, cover, publish=doc.source not in hidden)
                if problem:
                    warn(problem, "cover")
                cover = address or cover
            if body != doc.html or cover != doc.cover:
                # Pages and PDFs are cached by the digest: it follows the files referred to.
                digest = hashlib.sha256(f"{doc.digest}\n{body}\n{cover}".encode()).hexdigest()
                items[i] = replace(doc, html=body, cover=cover, digest=digest)
    return refs, issues


def load_library(root: str | Path, extensions: Iterable[Extension] = ()) -> Library:
    """Load and validate the content folder at ``root``."""
    return LibraryLoader(Path(root), tuple(extensions)).load()
