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
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - libyaml is in every wheel we use
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class SafeLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """YAML's safe loader, where a value that only looks like a date is a clear error.

    ``date: 2026-13-45`` matches YAML's timestamp pattern, and PyYAML then raises a bare
    ValueError with no line; here it is a YAML error at the value, like any other.
    """


def _timestamp(loader: SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"'{node.value}' is not a real date or time ({exc}); write it as YYYY-MM-DD",
            node.start_mark) from None


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(text: str) -> Any:
    """Parse YAML with the loader above; YAMLError (with its mark) on anything unreadable."""
    return yaml.load(text, Loader=SafeLoader)


class TOMLHandler(BaseHandler):
    """Hugo's ``+++`` front matter, parsed with the standard library."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


HANDLERS: tuple[BaseHandler, ...] = (YAMLHandler(), TOMLHandler())


class FrontMatterError(Exception):
    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field


@dataclass
class RawDocument:
    meta: dict[str, Any]
    body: str
    body_line: int  # line number (1-based) where the body starts
    lines: dict[str, int] = field(default_factory=dict)  # top-level key -> line
    format: str = "none"


def not_utf8(exc: UnicodeDecodeError) -> tuple[str, int]:
    """What to tell about a file that is not UTF-8, and the line of its first unreadable byte."""
    data = exc.object if isinstance(exc.object, bytes) else bytes(exc.object)
    line = data[: exc.start].count(b"\n") + 1
    return (f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on this line; Windows editors often save "
            "Latin-1 or Windows-1252): save it as UTF-8", line)


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
        data = load_yaml(fm)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        field = next((key for key, n in _yaml_lines(fm).items() if n == line), None)  # the key on that line
        raise FrontMatterError(f"the YAML front matter cannot be read: {problem}", line, field) from None
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
