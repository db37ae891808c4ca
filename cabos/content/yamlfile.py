"""YAML content files read with the line of every key, checked so each issue names file, line and key.

Shared by the loader (site.yml, problems.yml) and the extensions that read
their own YAML (intent.yml, sequences/*.yml). A key is a path such as
``('steps', 0, 'email')``, shown to people as ``steps[1].email``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from cabos.content.model import Issue
from cabos.content.reader import load_yaml, not_utf8

KeyPath = tuple[str | int, ...]


def key_name(path: KeyPath) -> str:
    """('fit', 'rules', 2, 'field') -> 'fit.rules[3].field' (items counted from 1)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def key_lines(node: yaml.Node | None, path: KeyPath = (), out: dict[KeyPath, int] | None = None) -> dict[KeyPath, int]:
    """The line (from 1) of every key and list item under a composed YAML node."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            key_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            key_lines(item, (*path, i), out)
    return out


def top_lines(lines: dict[KeyPath, int]) -> dict[str, int]:
    """Only the top-level keys (list items as '0', '1', ...), as documents keep them."""
    return {str(k[0]): v for k, v in lines.items() if len(k) == 1}


def read_yaml(path: Path, rel: str) -> tuple[Any, dict[KeyPath, int], list[Issue]]:
    """Parse a YAML file and the line of each key; a file that cannot be read is one issue."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        node = yaml.compose(text)
        data = load_yaml(text)
    except FileNotFoundError:
        return None, {}, [Issue("error", rel, f"{rel} is missing; create it (see docs/content.md)")]
    except UnicodeDecodeError as exc:
        return None, {}, [Issue("error", rel, *not_utf8(exc))]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, {}, [Issue("error", rel, f"cannot be read as YAML: {getattr(exc, 'problem', exc)}",
                                mark.line + 1 if mark else None)]
    return data, key_lines(node), []


def suggest(value: str, known: Any) -> str:
    """'; did you mean 'x'?' for a near miss, else the list of what is known."""
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known) or 'none'})"


class KeyChecker:
    """Collects issues for one YAML file, each with the line of the nearest key it can find."""

    def __init__(self, file: str, lines: dict[KeyPath, int], whole: str = "the file") -> None:
        self.file = file
        self.lines = lines
        self.whole = whole  # what a message calls the file itself (the empty key path)
        self.issues: list[Issue] = []

    def _line(self, path: KeyPath) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, path: KeyPath, message: str) -> None:
        self.issues.append(Issue("error", self.file, message, self._line(path), key_name(path) or None))

    def warn(self, path: KeyPath, message: str) -> None:
        self.issues.append(Issue("warning", self.file, message, self._line(path), key_name(path) or None))

    @property
    def failed(self) -> bool:
        return any(i.severity == "error" for i in self.issues)

    def mapping(self, value: Any, path: KeyPath, allowed: tuple[str, ...]) -> dict[str, Any]:
        """``value`` as a mapping (empty if it is none), reporting unknown keys with a suggestion."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"{key_name(path) or self.whole} must be a mapping of 'key: value' lines")
            return {}
        for key in value:
            if str(key) not in allowed:
                self.error((*path, str(key)), f"unknown key {key!r}{suggest(str(key), allowed)}")
        return value
