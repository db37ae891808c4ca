"""Read the dashboard's tables back from its HTML: rows by their data-* key, cells by data-col/data-method."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

ROW_KEYS = ("data-stage", "data-key", "data-person")
CELL_KEYS = ("data-col", "data-method")


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.kpis: dict[str, str] = {}
        self._table: str | None = None
        self._row: str | None = None
        self._cell: str | None = None
        self._kpi: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, Any] = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = {}
        elif tag == "tr" and self._table:
            self._row = next((a[k] for k in ROW_KEYS if k in a), None)
            if self._row is not None:
                self.tables[self._table][self._row] = {}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = next((a[k] for k in CELL_KEYS if k in a), "name" if tag == "th" else None)
            self._text = []
        if a.get("data-kpi"):
            self._kpi = a["data-kpi"]
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table and self._row is not None:
            self.tables[self._table][self._row][self._cell] = " ".join("".join(self._text).split())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None
        if self._kpi and tag in ("span", "p"):
            self.kpis[self._kpi] = " ".join("".join(self._text).split())
            self._kpi = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None or self._kpi is not None:
            self._text.append(data)


def parse(html: str) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, str]]:
    """({table id: {row key: {column: text}}}, {kpi name: text})."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables, parser.kpis
