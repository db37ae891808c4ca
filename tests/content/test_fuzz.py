"""Whatever a marketer saves, loading names the file or loads it: it never raises."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cabos.content.loader import load_library
from tests.conftest import MINIMAL_PROBLEMS, MINIMAL_SITE, write

# Lines people (and editors, and other site generators) really put in front matter, broken or not.
FRAGMENTS = [
    "title: Hola", "title: 'Comillas", 'title: "a: b"', "title: [a, b]", "title: {a: 1}", "title:",
    "summary: >", "  folded line", "\tsummary: tab", "date: 2026-01-02", "date: 2026-13-45",
    "date: 2026-02-30", "date: 2026-01-01T25:00:00Z", "date: 1e400", "date: hoy", "stage: learn", "stage: [x]",
    "problems: [slow-orders]", "problems: slow-orders", "problems: [[a]]", "problems:", "- a", "  - b",
    "draft: yes", "draft: maybe", "slug: Ñandú", "anchor: &a x", "alias: *a", "alias: *missing",
    "x: !!python/object:os.system ls", "x: !!binary aGVsbG8=", "x: !custom tag", "? complex key", ": ",
    "%YAML 1.1", "...", "---", "+++", 'title = "toml"', "{{ page.title }}", "{% raw %}", "<script>x</script>",
    "cover_color: '#zzz'", "form: {fields: [{name: sector}]}", "form: 7", "cta: []", "\x00", "\ufeff",
]
KEYS = ["title", "summary", "date", "stage", "problems", "draft", "slug", "cover_color", "form", "cta", "lang"]
VALUES = ["Hola", "''", "[]", "{}", "[a, b]", "2026-01-02", "2026-13-45", "2026-02-30", "2026-01-01 25:00:00",
          "12:30", "0x1F", ".nan", "~", "yes", "no", "learn", "[slow-orders]", "[[x]]", "{fields: 7}",
          "{fields: [{name: sector}]}", "{fields: [{name: a, type: select, options: [1, {b: c}]}]}", "'Ñ'", "1e400"]
pairs = st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(KEYS), st.sampled_from(VALUES))
# Mostly well-formed key: value lines, so the loader gets past YAML into every field check.
lines = st.lists(st.one_of(pairs, pairs, pairs, st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=10)


@settings(max_examples=150, deadline=None)
@given(front=lines, body=st.text(max_size=200), kind=st.sampled_from(["articles", "guides", "pages"]),
       delimiter=st.sampled_from(["---", "+++", ""]))
def test_any_markdown_file_loads_or_is_named(front: list[str], body: str, kind: str, delimiter: str) -> None:
    text = f"{delimiter}\n" + "\n".join(front) + f"\n{delimiter}\n{body}" if delimiter else "\n".join(front) + body
    with tempfile.TemporaryDirectory() as folder:
        root = write(Path(folder), {"site.yml": MINIMAL_SITE.format(language="en"),
                                    "problems.yml": MINIMAL_PROBLEMS, f"{kind}/x.md": text})
        lib = load_library(root)
    for issue in lib.issues:
        assert issue.file == f"{kind}/x.md" and issue.message, issue
        assert issue.line is None or issue.line >= 1, issue


@settings(max_examples=100, deadline=None)
@given(extra=lines)
def test_any_problems_file_loads_or_is_named(extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = write(Path(folder), {"site.yml": MINIMAL_SITE.format(language="en"),
                                    "problems.yml": MINIMAL_PROBLEMS + "\n".join(extra)})
        lib = load_library(root)
    assert all(issue.file and issue.message for issue in lib.issues)
