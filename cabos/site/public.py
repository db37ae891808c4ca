"""The public content site: problems, articles, pages, feed, sitemap."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request, url_for
from flask_babel import format_date

from cabos.content import Document, current_library
from cabos.content.library import Library
from cabos.content.model import url_words
from cabos.site import page_forms
from cabos.content.urls import document_url, site_url
from cabos.tracking.tokens import token_epoch


class PageCache:
    """Rendered public pages, shared by every visitor: they are identical for all.

    Keys carry the library version and the asset version, so a content edit or
    a deploy simply stops hitting old entries; least recently used go first.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, render: Callable[[], str]) -> tuple[bytes, str]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        body = render().encode()
        entry = (body, hashlib.sha256(body).hexdigest()[:32])
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def serve(key: str, render: Callable[[], str], mimetype: str = "text/html") -> Response:
    """A cached page with a strong ETag and Last-Modified; 304 when the client is current."""
    lib = current_library()
    cache: PageCache = current_app.extensions["cabos.page_cache"]
    # The page token embedded for the tracker changes with its epoch: so must the cached page.
    body, etag = cache.get(f"{key}|{lib.version}|{current_app.config['ASSET_VERSION']}|{token_epoch()}", render)
    store = current_app.extensions["cabos.content"]
    response = Response(body, mimetype=mimetype, headers=[
        ("ETag", f'"{etag}"'), ("Last-Modified", store.loaded_at_http), ("Cache-Control", "no-cache")])
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ:
        response.make_conditional(request)
    return response


def home() -> Response:
    lib = current_library()
    problems = [(p, lib.articles_for(p.slug), lib.guides_for(p.slug)) for p in lib.problems.values()]
    return serve("home", lambda: render_template("public/home.html", problems=problems,
                                                 latest=list(lib.articles.values())[:6]))


def problem(slug: str) -> Response:
    lib = current_library()
    prob = lib.problems.get(slug)
    if prob is None:
        abort(404)
    return serve(f"problem|{slug}", lambda: render_template(
        "public/problem.html", problem=prob, stages=lib.by_stage(slug), guides=lib.guides_for(slug)))


def article_index() -> Response:
    lib = current_library()
    return serve("articles", lambda: render_template("public/articles.html", articles=list(lib.articles.values())))


def article(slug: str) -> Response:
    lib = current_library()
    doc = lib.articles.get(slug)
    if doc is None:
        abort(404)
    if page_forms.placed(doc):  # a form carries a per-visitor CSRF token: not from the shared cache
        return page_forms.show(doc, "public/article.html", related=lib.related(doc), guide=lib.guide_for(doc))
    return serve(f"article|{slug}", lambda: render_template(
        "public/article.html", doc=doc, related=lib.related(doc), guide=lib.guide_for(doc)))


def page(slug: str) -> Response:
    lib = current_library()
    doc = lib.pages.get(slug)
    if doc is None:
        abort(404)
    if page_forms.placed(doc):
        return page_forms.show(doc, "public/page.html")
    return serve(f"page|{slug}", lambda: render_template("public/page.html", doc=doc))


def brand_css() -> Response:
    """Brand colours from site.yml as CSS variables (a file, so CSP needs no inline style)."""
    lib = current_library()
    b = lib.site.brand
    # --*-ink: what text is written in (or white text on); the same colours when they can carry text.
    body = (f":root{{--primary:{b.primary};--accent:{b.accent};--text:{b.text_ink};--background:{b.background};"
            f"--primary-ink:{b.primary_ink};--accent-ink:{b.accent_ink}}}\n")
    resp = Response(body, mimetype="text/css")
    resp.cache_control.public = True
    resp.cache_control.max_age = 3600
    return resp


def robots() -> Response:
    body = f"User-agent: *\nDisallow: /staff/\nDisallow: /t/\n\nSitemap: {site_url('/sitemap.xml')}\n"
    return Response(body, mimetype="text/plain")


def _all_documents(lib: Library) -> list[Document]:
    return [*lib.articles.values(), *lib.guides.values(), *lib.pages.values()]


def sitemap() -> Response:
    lib = current_library()

    def render() -> str:
        entries = [(site_url(url_for("public.home")), None)]
        entries += [(site_url(url_for("public.problem", slug=p)), None) for p in lib.problems]
        entries += [(document_url(d, external=True), d.updated or d.date) for d in _all_documents(lib)]
        return render_template("public/sitemap.xml", entries=entries)

    return serve("sitemap", render, "application/xml")


def feed() -> Response:
    lib = current_library()
    docs = list(lib.articles.values())[:30]
    updated = max((_stamp(d.updated or d.date) for d in docs),
                  default=current_app.extensions["cabos.content"].loaded_at)
    return serve("feed", lambda: render_template("public/feed.xml", docs=docs, updated=updated, stamp=_stamp),
                 "application/atom+xml")


def _stamp(d: date | None) -> datetime:
    return datetime.combine(d or date(2000, 1, 1), time(0, 0), tzinfo=UTC)


def init_app(app: Flask) -> None:
    """Register the blueprint with path words in the site's language."""
    language = app.extensions["cabos.content"].library.site.language
    words = url_words(language)
    bp = Blueprint("public", __name__)
    for rule, view in [
        ("/", home),
        ("/robots.txt", robots),
        ("/brand.css", brand_css),
        ("/sitemap.xml", sitemap),
        ("/feed.xml", feed),
        (f"/{words['problems']}/<slug>", problem),
        (f"/{words['articles']}/", article_index),
        (f"/{words['articles']}/<slug>", article),
        ("/<slug>", page),
    ]:
        bp.add_url_rule(rule, view.__name__, view, methods=["GET"])
    app.extensions["cabos.page_cache"] = PageCache()
    app.config.setdefault("ASSET_VERSION", _asset_version(app))
    app.config["PATHS"] = words
    app.register_blueprint(bp)
    app.jinja_env.globals.update(site_url=site_url, document_url=document_url)
    app.jinja_env.filters["format_date_long"] = lambda d: format_date(d, "long")
    app.context_processor(lambda: {"lib": current_library(), "site": current_library().site})


def _asset_version(app: Flask) -> str:
    """Changes whenever a template or static file changes, so ETags follow deploys."""
    h = hashlib.sha256()
    for folder in (app.template_folder, app.static_folder):
        for p in sorted(Path(str(folder)).rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p}{st.st_mtime_ns}{st.st_size}".encode())
    return h.hexdigest()[:12]
