"""Search-engine basics `cabos check` warns about: title and summary lengths, images without
alt text, two pieces with the same title. Warnings only: the site serves the pieces anyway."""

from __future__ import annotations

import re
from html import unescape

from cabos.content.library import Library
from cabos.content.model import Document, Issue

# Search results show about 60-70 characters of a title and 155-160 of a description.
TITLE_MAX = 70
SUMMARY_MIN = 50
SUMMARY_MAX = 160
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def seo_issues(library: Library) -> list[Issue]:
    """One warning per problem, on the file and front-matter line it is about."""
    docs = [*library.articles.values(), *library.guides.values(), *library.pages.values(),
            *library.scheduled, *library.drafts]
    issues: list[Issue] = []
    for doc in sorted(docs, key=lambda d: d.source):
        issues += _lengths(doc) + _alt_text(doc)
    issues += _duplicate_titles(docs)
    return issues


def _lengths(doc: Document) -> list[Issue]:
    out = []
    if len(doc.title) > TITLE_MAX:
        out.append(Issue("warning", doc.source, f"the title is {len(doc.title)} characters long: search results "
                         f"cut it after about {TITLE_MAX}", doc.lines.get("title"), "title"))
    if doc.kind == "page":
        return out
    line = doc.lines.get("summary") or doc.lines.get("description")
    if doc.summary and len(doc.summary) > SUMMARY_MAX:
        out.append(Issue("warning", doc.source, f"the summary is {len(doc.summary)} characters long: search results "
                         f"cut it after about {SUMMARY_MAX}", line, "summary"))
    elif len(doc.summary) < SUMMARY_MIN:
        out.append(Issue("warning", doc.source, f"the summary is {len(doc.summary)} characters long: under "
                         f"{SUMMARY_MIN} it says too little in search results and link previews", line, "summary"))
    return out


def _alt_text(doc: Document) -> list[Issue]:
    out = []
    for tag in _IMG.findall(doc.html):
        alt = _ALT.search(tag)
        if alt is None or not unescape(next(g for g in alt.groups() if g is not None)).strip():
            src = _SRC.search(tag)
            name = unescape(next(g for g in src.groups() if g is not None)).split("?")[0] if src else "an image"
            out.append(Issue("warning", doc.source, f"image {name} has no alt text: describe it in the brackets, "
                             "![what it shows](file.png), for readers who cannot see it and for search engines",
                             None, "alt"))
    return out


def _duplicate_titles(docs: list[Document]) -> list[Issue]:
    first: dict[str, Document] = {}
    out = []
    for doc in sorted(docs, key=lambda d: d.source):
        key = " ".join(doc.title.casefold().split())
        if key in first:
            out.append(Issue("warning", doc.source, f"the title is the same as {first[key].source}'s: search "
                             "results cannot tell them apart", doc.lines.get("title"), "title"))
        else:
            first[key] = doc
    return out
