"""Nurture emails: Markdown with a few personalisation tags, rendered to HTML and plain text.

An email is compiled once when the content loads: its Markdown is parsed with
the site's Markdown settings (``cabos.content.render``), inline styles in the
brand's colours are set on every element (email clients drop style sheets),
and each tag and each link becomes a placeholder. Sending one then only fills
the placeholders: tag values are escaped for HTML, links are rewritten to
signed click-tracking redirects. HTML and text come from the same tokens, so
they always say the same thing.

Tags are ``{{ name }}`` or ``{{ name | "fallback" }}`` (or ``'fallback'``;
the fallback is used when the value is empty). The article content loader strips Jekyll's
``{{ … }}``; this loader is separate and keeps them as tags.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask_babel import get_locale
from markdown_it.token import Token
from markupsafe import Markup, escape

from cabos import mail
from cabos.content.model import Brand, Document
from cabos.mail_mime import Outgoing
from cabos.content.render import make_markdown

# Tags and what they stand for. ``next_article`` is the next best article on the
# contact's top problem that they have not read yet; an email that uses it is
# skipped for a contact who has read everything on their problems.
TAGS: Mapping[str, str] = {
    "first_name": "the contact's first name",
    "name": "the contact's full name",
    "company": "the contact's company",
    "next_article": "a link to the next article to read, with its title",
    "next_article.title": "the next article's title",
    "next_article.url": "the next article's address",
    "next_article.summary": "the next article's summary",
}
LINK_TAGS = frozenset({"next_article"})  # body only: they become Markdown links
ARTICLE_TAGS = frozenset(t for t in TAGS if t.startswith("next_article"))

TAG = re.compile(r"""\{\{\s*(?P<name>[A-Za-z_][\w.]*)\s*"""
                 r"""(?:\|\s*(?:"(?P<fallback>[^"{}]*)"|'(?P<fallback2>[^'{}]*)')\s*)?\}\}""")
ANY_TAG = re.compile(r"\{\{.*?\}\}")
# Placeholders survive Markdown untouched (letters and digits only, even inside a URL).
_SLOT = "zzcabos{}zz"
_LINK = "zzcaboslink{}zz"
_PLACEHOLDER = re.compile(r"zzcabos(link)?(\d+)zz")
_SITE_SRC = re.compile(r' src="/(?!/)')  # a path on the site; "//host/…" is another site's


def _fallback(m: re.Match[str]) -> str:
    return m["fallback"] or m["fallback2"] or ""


@dataclass(frozen=True)
class TagUse:
    name: str
    fallback: str
    line: int  # 1-based, in the text it was found in


def find_tags(text: str) -> tuple[list[TagUse], list[tuple[int, str]]]:
    """Tags in ``text`` and the ``{{ … }}`` that are not well-formed tags, with their lines."""
    found, malformed = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        for m in ANY_TAG.finditer(line):
            tag = TAG.fullmatch(m.group())
            if tag is None:
                malformed.append((number, m.group()))
            else:
                found.append(TagUse(tag["name"], _fallback(tag), number))
    return found, malformed


@dataclass(frozen=True)
class Slot:
    name: str
    fallback: str


@dataclass(frozen=True)
class Template:
    """An email body compiled once: HTML and text with placeholders for tags and links."""

    html: str
    text: str
    slots: tuple[Slot, ...]
    links: tuple[str, ...]  # hrefs as written (tags inside them still as placeholders)

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(s.name for s in self.slots)


# --- compiling ----------------------------------------------------------------------------------


def _styles(brand: Brand) -> dict[str, str]:
    mono = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:14px;background:#f1f3f5;"
    return {
        "paragraph_open": "margin:0 0 16px;",
        "h1": f"margin:24px 0 12px;font-size:24px;line-height:1.25;color:{brand.primary_ink};",
        "h2": f"margin:24px 0 12px;font-size:20px;line-height:1.3;color:{brand.primary_ink};",
        "h3": "margin:20px 0 8px;font-size:17px;line-height:1.3;",
        "h4": "margin:16px 0 8px;font-size:16px;",
        "bullet_list_open": "margin:0 0 16px;padding-left:22px;",
        "ordered_list_open": "margin:0 0 16px;padding-left:22px;",
        "list_item_open": "margin:0 0 6px;",
        "blockquote_open": (f"margin:0 0 16px;padding:4px 0 4px 14px;border-left:4px solid {brand.accent};"
                            "color:#4a5260;"),
        "link_open": f"color:{brand.primary_ink};text-decoration:underline;font-weight:bold;",
        "code_inline": mono + "padding:1px 4px;border-radius:3px;",
        "fence": mono + "display:block;white-space:pre-wrap;padding:12px;border-radius:6px;",
        "code_block": mono + "display:block;white-space:pre-wrap;padding:12px;border-radius:6px;",
        "table_open": "border-collapse:collapse;width:100%;margin:0 0 16px;font-size:14px;",
        "th_open": "border:1px solid #d9dee3;padding:6px 8px;text-align:left;background:#f5f7f8;",
        "td_open": "border:1px solid #d9dee3;padding:6px 8px;text-align:left;",
        "hr": "border:0;border-top:1px solid #d9dee3;margin:24px 0;",
        "image": "max-width:100%;height:auto;border:0;",
    }


def _style(token: Token, styles: dict[str, str]) -> None:
    key = token.tag if token.type == "heading_open" else token.type
    style = styles.get(key)
    if style:
        existing = token.attrGet("style")  # tables set their own alignment
        token.attrSet("style", f"{style}{existing};" if existing else style)


def _substitute_source(body: str, slots: list[Slot]) -> str:
    """Replace each tag with a placeholder; a link tag becomes a Markdown link of placeholders."""

    def slot(name: str, fallback: str) -> str:
        slots.append(Slot(name, fallback))
        return _SLOT.format(len(slots) - 1)

    def replace(m: re.Match[str]) -> str:
        name, fallback = m["name"], _fallback(m)
        if name in LINK_TAGS:
            return f"[{slot(name + '.title', fallback)}]({slot(name + '.url', '')})"
        return slot(name, fallback)

    return TAG.sub(replace, body)


def compile_body(body: str, brand: Brand, resolve: Callable[[str], str | None] | None = None) -> Template:
    """Parse the Markdown once: styled HTML and plain text with tag and link placeholders.

    ``resolve`` turns a reference as written (``img/logo.png``, ``articulo.md``) into the
    site address it stands for (see cabos.content.media), or None to keep it.
    """
    slots: list[Slot] = []
    md = make_markdown()
    tokens = md.parse(_substitute_source(body, slots), env := {})
    styles = _styles(brand)
    links: list[str] = []
    for token in tokens:
        _style(token, styles)
        for child in token.children or ():
            _style(child, styles)
            if resolve is not None and child.type in ("link_open", "image"):
                attribute = "href" if child.type == "link_open" else "src"
                written = str(child.attrGet(attribute) or "")
                child.attrSet(attribute, resolve(written) or written)
            if child.type == "link_open":
                links.append(str(child.attrGet("href") or ""))
                child.attrSet("href", _LINK.format(len(links) - 1))
    html_body = md.renderer.render(tokens, md.options, env)
    return Template(html_body, _plain_text(tokens, links), tuple(slots), tuple(links))


def _plain_text(tokens: list[Token], links: list[str]) -> str:
    """The same tokens as readable plain text: paragraphs, '-' lists, 'text (link)'."""
    lines: list[str] = []
    lists: list[list[Any]] = []  # [marker, counter]
    quote = 0
    bullet = ""
    row: list[str] = []
    in_cell = False
    for tok in tokens:
        t = tok.type
        if t == "bullet_list_open":
            lists.append(["-", 0])
        elif t == "ordered_list_open":
            lists.append(["1", int(tok.attrGet("start") or 1) - 1])
        elif t in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                lines.append("")
        elif t == "list_item_open":
            marker = lists[-1]
            marker[1] += 1
            bullet = "- " if marker[0] == "-" else f"{marker[1]}. "
        elif t == "blockquote_open":
            quote += 1
        elif t == "blockquote_close":
            quote -= 1
        elif t == "inline":
            text = _inline_text(tok.children or [], links)
            if in_cell:
                row.append(text.replace("\n", " "))
                continue
            indent = "   " * max(len(lists) - 1, 0)
            prefix = "> " * quote
            for i, part in enumerate(text.split("\n")):
                lead = bullet if i == 0 and bullet else (" " * len(bullet) if bullet else "")
                lines.append(f"{prefix}{indent}{lead}{part}")
            bullet = ""
        elif t in ("paragraph_close", "heading_close") and not (lists and tok.hidden):
            lines.append("")
        elif t in ("fence", "code_block"):
            lines += ["    " + line for line in tok.content.rstrip("\n").split("\n")] + [""]
        elif t == "hr":
            lines += ["----", ""]
        elif t in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = t.endswith("_open")
        elif t == "tr_open":
            row = []
        elif t == "tr_close":
            lines.append(" | ".join(row))
        elif t == "table_close":
            lines.append("")
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _inline_text(children: list[Token], links: list[str]) -> str:
    parts: list[str] = []
    opened: list[tuple[int, str]] = []
    for c in children:
        if c.type in ("text", "code_inline"):
            parts.append(c.content)
        elif c.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif c.type == "image":
            parts.append(c.content)
        elif c.type == "link_open":
            opened.append((len(parts), str(c.attrGet("href"))))
        elif c.type == "link_close" and opened:
            start, placeholder = opened.pop()
            label = "".join(parts[start:])
            index = int(_PLACEHOLDER.fullmatch(placeholder).group(2))  # type: ignore[union-attr]
            if label.strip() != links[index]:
                parts.append(f" ({placeholder})")
            else:
                parts[start:] = [placeholder]
    return "".join(parts)


# --- rendering one message ---------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """What the tags of one message say."""

    name: str = ""
    company: str = ""
    article: Document | None = None
    article_url: str = ""

    def get(self, tag: str) -> str:
        if tag == "first_name":
            return self.name.split()[0] if self.name.split() else ""
        if tag == "name":
            return self.name
        if tag == "company":
            return self.company
        if self.article is None:
            return ""
        return {"next_article.title": self.article.title, "next_article.url": self.article_url,
                "next_article.summary": self.article.summary}.get(tag, "")


def fill_text(text: str, values: Values) -> str:
    """A subject or preheader with its tags filled in (plain text)."""
    return TAG.sub(lambda m: values.get(m["name"]) or _fallback(m), text)


def absolute(href: str, base_url: str) -> str:
    """A link as written, made absolute against the public site (relative links are ours)."""
    parts = urlsplit(href)
    if parts.scheme:
        return href
    return urljoin(base_url.rstrip("/") + "/", href)


def trackable(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


@dataclass(frozen=True)
class Body:
    html: str
    text: str
    targets: tuple[str, ...]  # every link's absolute target, in order


def render_body(template: Template, values: Values, base_url: str, track: Callable[[str], str]) -> Body:
    """Fill one message's tags and rewrite its links through ``track``."""
    slot_values = [values.get(s.name) or s.fallback for s in template.slots]
    targets = []
    for raw in template.links:
        filled = _PLACEHOLDER.sub(lambda m: slot_values[int(m.group(2))] if not m.group(1) else m.group(), raw)
        targets.append(absolute(filled, base_url) if not filled.startswith(("#", "mailto:", "tel:")) else filled)
    tracked = [track(t) if trackable(t) else t for t in targets]

    def fill(escape: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
        def replace(m: re.Match[str]) -> str:
            index = int(m.group(2))
            return escape(tracked[index] if m.group(1) else slot_values[index])
        return replace

    # Images from the content folder are /media/… on the site: an inbox needs the whole address.
    site = html.escape(base_url.rstrip("/"), quote=True)
    body_html = _SITE_SRC.sub(lambda m: f' src="{site}/', template.html)
    return Body(_PLACEHOLDER.sub(fill(lambda v: html.escape(v, quote=True)), body_html),
                _PLACEHOLDER.sub(fill(lambda v: v), template.text), tuple(targets))


def recipient(name: str, email: str) -> Address:
    """The To address; the mail system wants an ASCII domain, the contact keeps what they typed."""
    local, domain = email.rsplit("@", 1)
    clean = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", name).split())[:200]
    return Address(display_name=clean, username=local, domain=domain.encode("idna").decode("ascii"))


class Layout:
    """The branded HTML layout, rendered once per locale with markers where each message differs.

    Rendering the Jinja template for every message of a newsletter cost more than filling
    it in; the markers take the same escaped values the template would have printed.
    """

    _MARKS = re.compile(r"zzcabos(subject|preheader|body|unsubscribe)zz")

    def __init__(self, template: Any, **fixed: Any) -> None:
        self.template = template
        self.fixed = fixed  # site, brand, base_url: the same for every message
        self._skeletons: dict[str, str] = {}

    def render(self, *, subject: str, preheader: str, body: str, unsubscribe_url: str) -> str:
        key = str(get_locale())
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            marks = {name: Markup(f"zzcabos{mark}zz") for name, mark in (
                ("subject", "subject"), ("preheader", "preheader"), ("body", "body"),
                ("unsubscribe_url", "unsubscribe"))}
            skeleton = self._skeletons[key] = self.template.render(**marks, **self.fixed)
        values = {"subject": str(escape(subject)), "preheader": str(escape(preheader)), "body": body,
                  "unsubscribe": str(escape(unsubscribe_url))}
        return self._MARKS.sub(lambda m: values[m[1]], skeleton)


@dataclass(frozen=True)
class Composed:
    """One message ready to send, and what it says (for preview and tests)."""

    outgoing: Outgoing
    subject: str
    preheader: str
    text: str
    html: str
    targets: tuple[str, ...]

    @property
    def message(self) -> EmailMessage:
        """The message parsed back (previews, test sends, tests): sending uses ``outgoing`` as written."""
        return self.outgoing.as_message()


def compose(*, app: Any, subject: str, preheader: str, template: Template, values: Values, base_url: str,
            track: Callable[[str], str], unsubscribe_url: str, to: Address, layout: Layout,
            footer: str, message_id: str, headers: list[tuple[str, str]] | None = None) -> Composed:
    """Fill, track and wrap one email: the HTML in the branded layout, the text with its footer.

    The message carries RFC 8058 one-click unsubscribe headers.
    """
    subject = " ".join(fill_text(subject, values).split())
    preheader = " ".join(fill_text(preheader, values).split())
    body = render_body(template, values, base_url, track)
    html_doc = layout.render(subject=subject, preheader=preheader, body=body.html, unsubscribe_url=unsubscribe_url)
    text = f"{body.text}\n-- \n{footer}\n"
    headers = [("List-Unsubscribe", f"<{unsubscribe_url}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
               *(headers or [])]
    outgoing = mail.outgoing(app, to=to, subject=subject, text=text, html=html_doc, message_id=message_id,
                             headers=headers)
    return Composed(outgoing, subject, preheader, text, html_doc, body.targets)
