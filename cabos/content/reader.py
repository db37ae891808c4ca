"""Read one Markdown file into raw front matter, body and key line numbers.

YAML (``---``) and TOML (``+++``) front matter both load, as Jekyll and Hugo
write them. A byte-order mark, CRLF line endings and an empty body are
normal; a file without front matter is all body.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - libyaml is in every wheel we use
    from yaml import SafeLoader  # type: ignore[assignment]


class TOMLHandler(BaseHandler):
    """Hugo's ``+++`` front matter, parsed with the standard library."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


HANDLERS: tuple[BaseHandler, ...] = (YAMLHandler(), TOMLHandler())


class FrontMatterError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class RawDocument:
    meta: dict[str, Any]
    body: str
    body_line: int  # line number (1-based) where the body starts
    lines: dict[str, int] = field(default_factory=dict)  # top-level key -> line
    format: str = "none"


def normalise_text(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_text(text: str) -> RawDocument:
    """Split and parse front matter; raise FrontMatterError with a line."""
    text = normalise_text(text)
    handler = next((h for h in HANDLERS if h.detect(text)), None)
    if handler is None:
        return RawDocument({}, text, 1)
    try:
        _, fm, body = handler.FM_BOUNDARY.split(text, 2)  # type: ignore[union-attr]
    except ValueError:
        raise FrontMatterError(
            "front matter starts on line 1 but is never closed: add a closing "
            f"'{handler.START_DELIMITER}' line", 1) from None
    body_line = text[: len(text) - len(body)].count("\n") + 1
    if body.startswith("\n"):
        body = body[1:]
        body_line += 1
    if isinstance(handler, TOMLHandler):
        meta, lines, fmt = _load_toml(fm), _toml_lines(fm), "toml"
    else:
        meta, lines, fmt = _load_yaml(fm), _yaml_lines(fm), "yaml"
    return RawDocument(meta, body, body_line, lines, fmt)


def _load_yaml(fm: str) -> dict[str, Any]:
    try:
        data = yaml.load(fm, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise FrontMatterError(f"the YAML front matter cannot be read: {problem}", line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FrontMatterError("the front matter must be a mapping of 'key: value' lines", 2)
    return {str(k): v for k, v in data.items()}


# Top-level keys of a YAML mapping start at column 0; the loader above already
# validated the text, so a line scan is enough (and cheaper than composing nodes).
_YAML_KEY = re.compile(r"^([^\s#:'\"-][^:]*?|'[^']*'|\"[^\"]*\")\s*:(?:\s|$)", re.MULTILINE)
_TOML_KEY = re.compile(r"^[ \t]*([A-Za-z0-9_-]+)[ \t]*=", re.MULTILINE)


def _yaml_lines(fm: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    for m in _YAML_KEY.finditer(fm):
        lines.setdefault(m.group(1).strip("'\""), fm.count("\n", 0, m.start()) + 1)
    return lines


def _load_toml(fm: str) -> dict[str, Any]:
    try:
        return tomllib.loads(fm)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise FrontMatterError(
            f"the TOML front matter cannot be read: {exc}", int(m.group(1)) if m else None
        ) from None


def _toml_lines(fm: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    table = re.search(r"^\s*\[", fm, re.MULTILINE)  # keys after a [table] are not top-level
    for m in _TOML_KEY.finditer(fm, 0, table.start() if table else len(fm)):
        lines.setdefault(m.group(1), fm.count("\n", 0, m.start()) + 1)
    return lines
