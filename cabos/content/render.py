"""Markdown to HTML: CommonMark plus tables, footnotes, task lists and heading anchors."""

from __future__ import annotations

import html
import re
import shlex
import unicodedata
from dataclasses import dataclass
from datetime import date

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from cabos.content.model import Heading

WORDS_PER_MINUTE = 220

# Jekyll/Liquid ({% include x %}, {{ page.title }}) and Hugo ({{< shortcode >}})
# tags mean nothing here; they are removed (outside code) and reported.
_TEMPLATE_TAG = re.compile(r"\{%-?.*?-?%\}|\{\{[<%].*?[>%]\}\}|\{\{.*?\}\}")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_WORD = re.compile(r"\w+")


def slugify(text: str) -> str:
    """ASCII slug for anchors and file-derived slugs: 'Qué es' -> 'que-es'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[\s_-]+", "-", text).strip("-")


def make_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin)
    md.use(tasklists_plugin)  # '- [ ] step' checklists, common in guides
    md.use(anchors_plugin, min_level=2, max_level=4, slug_func=slugify)
    return md


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: tuple[Heading, ...]
    words: int
    reading_minutes: int


# The tags imported blogs use most, with a meaning outside Jekyll and Hugo: links to other
# posts, figures and videos. They become the Markdown or HTML they stand for.
_POST_URL = re.compile(r"\{%-?\s*post_url\s+(?:[\w./-]*/)?(\d{4}-\d{2}-\d{2}-[\w.-]+?)(?:\.(?:md|markdown))?\s*-?%\}")
_LINK = re.compile(r"\{%-?\s*link\s+(?:[\w./-]*/)?([\w.-]+\.(?:md|markdown))\s*-?%\}")
_REF = re.compile(r"\{\{[<%]\s*(?:rel)?ref\s+\"?(?:[\w./-]*/)?([\w.-]+?)(?:\.md)?(#[\w-]+)?\"?\s*[>%]\}\}")
_SHORTCODE = re.compile(r"\{\{[<%]\s*(figure|youtube|vimeo)\s+(.*?)\s*/?[>%]\}\}")
_POST_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.+)$")


def _shortcode(name: str, args: str) -> str | None:
    try:
        words = shlex.split(args)
    except ValueError:
        return None
    named = dict(w.split("=", 1) for w in words if "=" in w)
    plain = [w for w in words if "=" not in w]
    e = html.escape  # quotes too
    if name == "figure" and named.get("src"):
        caption = named.get("caption") or named.get("title") or ""
        alt = named.get("alt") or caption
        return (f'<figure><img src="{e(named["src"])}" alt="{e(alt)}">'
                + (f"<figcaption>{e(caption)}</figcaption>" if caption else "") + "</figure>")
    video = named.get("id") or (plain[0] if plain else "")
    if not re.fullmatch(r"[\w-]{1,64}", video):
        return None
    if name == "youtube":
        return (f'<iframe class="video" src="https://www.youtube-nocookie.com/embed/{video}" title="YouTube" '
                'allowfullscreen loading="lazy"></iframe>')
    return (f'<iframe class="video" src="https://player.vimeo.com/video/{video}?dnt=1" title="Vimeo" '
            'allowfullscreen loading="lazy"></iframe>')


def translate_template_tags(line: str) -> str:
    """Jekyll's post_url and link, Hugo's ref, relref, figure, youtube and vimeo, as cabos writes them."""
    line = _POST_URL.sub(lambda m: f"{m.group(1)}.md", line)
    line = _LINK.sub(lambda m: m.group(1), line)
    line = _REF.sub(lambda m: f"{m.group(1)}.md{m.group(2) or ''}", line)
    return _SHORTCODE.sub(lambda m: _shortcode(m.group(1), m.group(2)) or m.group(0), line)


def post_date(stem: str) -> tuple[date, str] | None:
    """Jekyll names posts ``2024-03-01-title.md``: (the date, the name without it), or None."""
    m = _POST_DATE.match(stem)
    if m is None:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), m.group(4)
    except ValueError:
        return None  # digits, not a day: the name is just a name


def strip_template_tags(body: str) -> tuple[str, list[int]]:
    """Translate the tags with a meaning here, remove the rest outside fenced code; return the
    lines where tags were removed."""
    out, found, fence = [], [], None
    for number, line in enumerate(body.split("\n"), start=1):
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)[0]
            fence = None if fence == marker else (fence or marker)
        elif fence is None and "{" in line and _TEMPLATE_TAG.search(line):
            line = translate_template_tags(line)
            if _TEMPLATE_TAG.search(line):
                found.append(number)
                line = _TEMPLATE_TAG.sub("", line)
        out.append(line)
    return "\n".join(out), found


class Renderer:
    """One configured parser, reused for every document (building one is costly)."""

    def __init__(self) -> None:
        self.md = make_markdown()

    def render(self, body: str) -> Rendered:
        tokens = self.md.parse(body, env := {})
        toc = []
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and tok.tag in ("h2", "h3"):
                inline = tokens[i + 1]
                text = "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))
                toc.append(Heading(int(tok.tag[1]), text, str(tok.attrs.get("id", ""))))
        html = self.md.renderer.render(tokens, self.md.options, env)
        words = len(_WORD.findall(body))
        return Rendered(html, tuple(toc), words, max(1, round(words / WORDS_PER_MINUTE)))
