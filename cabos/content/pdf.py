"""Guide PDFs: WeasyPrint through a print stylesheet branded from site.yml, cached on disk.

A PDF's cache key is the hash of the exact HTML and CSS handed to WeasyPrint
(so of the guide's Markdown, the template, the stylesheet, the brand and the
interface language) plus WeasyPrint's version: change any of them and the
next request renders a new file. Renders are single-flight across threads
and processes (an ``flock`` per guide) and land atomically (temporary file,
then rename), so a reader never gets half a PDF and two workers never render
the same file twice. Rendering is offline: only local files are fetched.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
import weasyprint
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import format_date, gettext, ngettext
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cabos.content import contrast
from cabos.content.library import Library
from cabos.content.media import MEDIA_PREFIX
from cabos.content.model import Document, Site

log = logging.getLogger("cabos.content.pdf")

TEMPLATES = Path(__file__).parent / "templates" / "pdf"
KEY_LENGTH = 20
# Tagged PDF (headings, lists, tables, reading order and the language, for screen readers), PDF/UA-1.
PDF_VARIANT = "pdf/ua-1"
_FOOTNOTES = re.compile(r'<hr class="footnotes-sep" />\s*<section class="footnotes">.*?</section>\s*', re.S)
_FOOTNOTE_ITEM = re.compile(
    r'<li id="fn(\d+)" class="footnote-item">(.*?)</li>\s*(?=<li id="fn\d+" class="footnote-item">|</ol>)', re.S)
_BACKREF = re.compile(r'\s*<a href="#fnref[^"]*" class="footnote-backref">[^<]*</a>')
_FIRST_CALL = r'<sup class="footnote-ref"><a href="#fn{n}" id="fnref{n}">\[[^\]]*\]</a></sup>'
_LATER_CALL = re.compile(r'<sup class="footnote-ref"><a href="#fn(\d+)" id="fnref\d+:\d+">\[[^\]]*\]</a></sup>')


def print_footnotes(html: str) -> str:
    """Move Markdown footnotes from the end of the text to the foot of the page that cites them."""
    section = _FOOTNOTES.search(html)
    if section is None:
        return html
    notes = {n: _BACKREF.sub("", body).strip() for n, body in _FOOTNOTE_ITEM.findall(section.group(0))}
    html = html[:section.start()] + html[section.end():]
    for n, body in notes.items():
        inline = re.sub(r"</p>\s*<p>", " ", body).removeprefix("<p>").removesuffix("</p>")
        html = re.sub(_FIRST_CALL.format(n=n), lambda _m, i=inline, n=n: f'<span class="footnote" id="fn{n}">{i}</span>',
                      html, count=1)
    # A note cited again points back to its first call (its number is the same).
    return _LATER_CALL.sub(lambda m: f'<sup class="footnote-again"><a href="#fn{m.group(1)}">{m.group(1)}</a></sup>',
                           html)


class OfflineFetcher(weasyprint.urls.URLFetcher):
    """Serves files from the allowed folders and ``data:`` URLs; refuses everything else."""

    def __init__(self, roots: dict[str, Path], base_url: str) -> None:
        super().__init__(allowed_protocols={"file", "data"})
        self.roots = {prefix: root.resolve() for prefix, root in roots.items()}
        self.base = urlsplit(base_url)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> weasyprint.urls.URLFetcherResponse:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc == self.base.netloc:
            # The site's own static files are on this disk: never ask the network for them.
            for prefix, root in self.roots.items():
                if prefix and parts.path.startswith(prefix):
                    return super().fetch(self._inside(root, parts.path[len(prefix):]).as_uri(), headers)
        if parts.scheme == "file":
            path = Path(unquote(parts.path)).resolve()
            if any(path.is_relative_to(root) for root in self.roots.values()):
                return super().fetch(path.as_uri(), headers)
        if parts.scheme == "data":
            return super().fetch(url, headers)
        raise ValueError(f"not fetched (PDFs render offline, from local files only): {url[:200]}")

    @staticmethod
    def _inside(root: Path, relative: str) -> Path:
        path = (root / unquote(relative).lstrip("/")).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"outside {root}: {relative[:200]}")
        return path


@dataclass(frozen=True)
class Rendition:
    """The exact input WeasyPrint gets, and the cache key derived from it."""

    html: str
    key: str
    base_url: str


class GuidePdfs:
    """Renders guides to PDF and keeps them in ``folder``, one current file per guide."""

    def __init__(self, folder: Path, content_dir: Path, static_dir: Path) -> None:
        self.folder = Path(folder)
        self.content_dir = Path(content_dir)
        self.static_dir = Path(static_dir)
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                               extensions=["jinja2.ext.i18n"])
        self.env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.renders = 0  # PDFs actually rendered by this object (tests, `cabos pdf build`)
        self._memo: dict[tuple[object, ...], Rendition] = {}
        self._memo_lock = threading.Lock()
        self.recheck_every = 1.0  # seconds between two looks at the templates' files
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._stamp_at = 0.0

    # -- input ---------------------------------------------------------------------------

    def _template_stamp(self) -> tuple[tuple[int, int], ...]:
        # Looked at no more than once a second: every download asks, and templates change on deploys.
        now = time.monotonic()
        if self._stamp is None or now - self._stamp_at >= self.recheck_every:
            self._stamp = tuple((st.st_mtime_ns, st.st_size) for st in (p.stat() for p in sorted(TEMPLATES.iterdir())))
            self._stamp_at = now
        return self._stamp

    def _memo_key(self, doc: Document, site: Site, base_url: str, names: tuple[str, ...]) -> tuple[object, ...]:
        return (doc.digest, doc.slug, site.name, site.language, site.brand, base_url, names, self._template_stamp())

    def rendition(self, doc: Document, site: Site, base_url: str, problem_names: tuple[str, ...] = ()) -> Rendition:
        """The HTML for ``doc`` and its cache key (memoised: downloads call this every time)."""
        base_url = base_url.rstrip("/")
        memo_key = self._memo_key(doc, site, base_url, problem_names)
        with self._memo_lock:
            hit = self._memo.get(memo_key)
        if hit is not None:
            return hit
        b = site.brand
        css = self.env.get_template("print.css").render(
            primary=b.primary_ink, accent=b.accent, text=b.text_ink,
            cover=contrast.readable(doc.cover_color or b.primary, (contrast.WHITE,)))
        html = self.env.get_template("guide.html").render(
            doc=doc, site=site, css=css, body=print_footnotes(doc.html), base_url=base_url,
            problems=problem_names, cover_url=self._cover_url(doc, base_url),
            published=format_date(doc.updated or doc.date, "long") if (doc.updated or doc.date) else "")
        digest = hashlib.sha256(html.encode())
        digest.update(weasyprint.__version__.encode() + PDF_VARIANT.encode())
        rendition = Rendition(html, digest.hexdigest()[:KEY_LENGTH], base_url)
        with self._memo_lock:
            if len(self._memo) > 512:
                self._memo.clear()
            self._memo[memo_key] = rendition
        return rendition

    def _cover_url(self, doc: Document, base_url: str) -> str | None:
        if not doc.cover:
            return None
        if doc.cover.startswith(("http://", "https://", "data:")):
            return doc.cover
        if doc.cover.startswith("/"):
            return base_url + doc.cover
        return (self.content_dir / doc.cover).resolve().as_uri()

    # -- output --------------------------------------------------------------------------

    def render(self, rendition: Rendition) -> bytes:
        """WeasyPrint, and nothing else: the costly step the cache exists to avoid."""
        self.renders += 1
        fetcher = OfflineFetcher({"/static/": self.static_dir, MEDIA_PREFIX: self.content_dir, "": self.content_dir},
                                 rendition.base_url)
        return weasyprint.HTML(string=rendition.html, base_url=rendition.base_url + "/",
                               url_fetcher=fetcher).write_pdf(pdf_variant=PDF_VARIANT)

    def cached_path(self, doc: Document, site: Site, base_url: str, problem_names: tuple[str, ...] = ()) -> Path | None:
        """The current PDF if it is rendered and its key is known in this process; else None.

        Needs no app context (no template is rendered): the download fast path asks this first.
        """
        with self._memo_lock:
            rendition = self._memo.get(self._memo_key(doc, site, base_url.rstrip("/"), problem_names))
        if rendition is None:
            return None
        path = self.path_for(doc.slug, rendition)
        return path if path.is_file() else None

    def path_for(self, slug: str, rendition: Rendition) -> Path:
        return self.folder / f"{slug}--{rendition.key}.pdf"

    def ensure(self, doc: Document, site: Site, base_url: str, problem_names: tuple[str, ...] = ()) -> Path:
        """The current PDF of ``doc``, rendered now if it is missing (once, whoever else asks)."""
        rendition = self.rendition(doc, site, base_url, problem_names)
        path = self.path_for(doc.slug, rendition)
        if path.is_file():
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f".{doc.slug}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if path.is_file():  # someone rendered it while we waited
                    return path
                data = self.render(rendition)
                fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{doc.slug}-", suffix=".tmp")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                self._prune(doc.slug, keep=path)
                log.info("rendered %s (%d bytes)", path.name, len(data))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path

    def _prune(self, slug: str, keep: Path) -> None:
        """Remove the guide's older PDFs (an open download keeps reading its file)."""
        pattern = re.compile(rf"^{re.escape(slug)}--[0-9a-f]{{{KEY_LENGTH}}}\.pdf$")
        for old in self.folder.iterdir():
            if old != keep and pattern.match(old.name):
                old.unlink(missing_ok=True)


# -- the app and the command line ---------------------------------------------------------


def init_app(app: Flask) -> None:
    # WeasyPrint narrates every layout step at INFO; keep its warnings (missing images, bad CSS).
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    folder = Path(app.config["PDF_CACHE_DIR"] or Path(app.instance_path) / "pdf-cache")
    app.extensions["cabos.pdfs"] = GuidePdfs(folder, Path(app.config["CONTENT_DIR"]).resolve(),
                                             Path(str(app.static_folder)))


def pdfs(app: Flask | None = None) -> GuidePdfs:
    return (app or current_app).extensions["cabos.pdfs"]


def pdf_inputs(config: Mapping[str, Any], library: Library, doc: Document) -> tuple[str, tuple[str, ...]]:
    """What a guide's PDF depends on besides the guide and the site: the base URL and problem names."""
    base_url = config["SITE_URL"] or library.site.base_url
    return base_url, tuple(library.problems[p].name for p in doc.problems if p in library.problems)


def guide_pdf(library: Library, doc: Document) -> Path:
    """The PDF of a published guide in the current app, rendered if missing."""
    base_url, names = pdf_inputs(current_app.config, library, doc)
    return pdfs().ensure(doc, library.site, base_url, names)


@click.group("pdf")
def pdf_group() -> None:
    """Guide PDFs."""


@pdf_group.command("build")
@click.option("--guide", "slugs", multiple=True, help="Only this guide (slug); repeat for several.")
@with_appcontext
def build_command(slugs: tuple[str, ...]) -> None:
    """Render every published guide's PDF that is missing or out of date."""
    library = current_app.extensions["cabos.content"].current()
    unknown = [s for s in slugs if s not in library.guides]
    if unknown:
        raise click.UsageError(f"no published guide {', '.join(map(repr, unknown))} "
                               f"(known: {', '.join(library.guides) or 'none'})")
    store = pdfs()
    before = store.renders
    for doc in library.guides.values():
        if slugs and doc.slug not in slugs:
            continue
        path = guide_pdf(library, doc)
        click.echo(f"{doc.slug}: {path} ({path.stat().st_size // 1024} KiB)")
    click.secho(f"{store.renders - before} rendered, {len(slugs or library.guides) - (store.renders - before)} "
                f"already current, in {store.folder}", fg="green")
