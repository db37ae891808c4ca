"""Markdown to HTML: CommonMark plus tables, footnotes, task lists and heading anchors."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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


def strip_template_tags(body: str) -> tuple[str, list[int]]:
    """Remove template tags outside fenced code; return the lines they were on."""
    out, found, fence = [], [], None
    for number, line in enumerate(body.split("\n"), start=1):
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)[0]
            fence = None if fence == marker else (fence or marker)
        elif fence is None and "{" in line and _TEMPLATE_TAG.search(line):
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
