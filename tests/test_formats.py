"""One formatting layer: each language has one style for numbers, money, dates and times, and CSVs its spreadsheet opens."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask_babel import force_locale

from cabos import formats

MOMENT = datetime(2026, 11, 28, 5, 28, tzinfo=UTC)  # 6:28 in Madrid (SALES_TIMEZONE's default)

EXPECTED = {
    "es": {"number": "1.234,5", "percent": ("90,2\xa0%", "92\xa0%"), "money": "13.000,00\xa0€",
           "whole": "13.000\xa0€", "date": "28 nov 2026", "datetime": "28 nov 2026, 6:28", "time": "6:28",
           "dialect": (";", ",")},
    "en": {"number": "1,234.5", "percent": ("90.2%", "92%"), "money": "€13,000.00", "whole": "€13,000",
           "date": "Nov 28, 2026", "datetime": "Nov 28, 2026, 6:28\u202fAM", "time": "6:28\u202fAM",
           "dialect": (",", ".")},
}


@pytest.mark.parametrize("language", EXPECTED)
def test_one_style_per_language(app: Flask, language: str) -> None:
    want = EXPECTED[language]
    with app.test_request_context(), force_locale(language):
        assert formats.number(1234.5, 1) == want["number"]
        assert (formats.percent(0.902), formats.percent(0.92)) == want["percent"]
        assert formats.money(1_300_000, "EUR") == want["money"]
        assert formats.money(1_300_000, "EUR", whole=True) == want["whole"]
        assert formats.date(MOMENT) == formats.date(date(2026, 11, 28)) == want["date"]
        assert formats.datetime(MOMENT) == formats.datetime(MOMENT.replace(tzinfo=None)) == want["datetime"]
        assert formats.time(MOMENT) == want["time"]
        assert formats.csv_dialect() == want["dialect"]
        assert formats.number(None) == formats.date(None) == formats.money(None, "EUR") == "—"


def test_the_team_time_zone_decides_the_day(app: Flask) -> None:
    late = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    with app.test_request_context(), force_locale("en"):
        app.config["SALES_TIMEZONE"] = "Europe/Madrid"
        assert formats.date(late) == "Nov 29, 2026"
        app.config["SALES_TIMEZONE"] = "America/Mexico_City"
        assert formats.datetime(late) == "Nov 28, 2026, 5:30\u202fPM"


def _spanish_csv(app: Flask) -> str:
    with app.test_request_context(), force_locale("es"):
        return formats.csv_text(["Etapa", "Personas", "Conversión", "Ingresos (EUR)", "Desde"],
                                [["Visitantes", 1234, 0.4567, Decimal("13000.50"), date(2026, 3, 1)],
                                 ["=SUMA(A1)", 5, None, Decimal("0.10"), MOMENT]])


def test_a_spanish_csv_is_what_spanish_excel_opens(app: Flask) -> None:
    """Excel with a Spanish locale splits on ';' and reads '1234,5' as a number (a '.' would be a date or text)."""
    text = _spanish_csv(app)
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["Etapa", "Personas", "Conversión", "Ingresos (EUR)", "Desde"]
    assert rows[1] == ["Visitantes", "1234", "0,4567", "13000,50", "2026-03-01"]
    assert rows[2] == ["'=SUMA(A1)", "5", "", "0,10", "2026-11-28 06:28"]
    for cell in (c for row in rows[1:] for c in row[1:4] if c):
        assert float(cell.replace(",", ".")) >= 0 and "." not in cell  # no grouping, decimal comma


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (scripts/setup.sh)")
def test_libreoffice_in_spanish_reads_the_columns_and_the_numbers(app: Flask, tmp_path: Path) -> None:
    """LibreOffice headless, Spanish locale, opens the CSV: every column in its own cell, numbers as numbers."""
    source = tmp_path / "tabla.csv"
    source.write_text(_spanish_csv(app), encoding="utf-8")
    # CSV import options: separator 59 (';'), text delimiter 34 ('"'), UTF-8 (76), from line 1, language es-ES
    # (3082). Saved as a flat OpenDocument spreadsheet, each cell says what Calc made of it.
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--infilter=CSV:59,34,76,1,,3082", "--convert-to", "fods", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=120)
    cells = _cells(tmp_path / "tabla.fods")
    assert [value for _kind, value in cells[0]] == ["Etapa", "Personas", "Conversión", "Ingresos (EUR)", "Desde"]
    assert cells[1][1:4] == [("float", "1234"), ("float", "0.4567"), ("float", "13000.5")]
    assert cells[1][4][0] == "date" and cells[1][4][1].startswith("2026-03-01")
    assert cells[2][0] == ("string", "'=SUMA(A1)") and cells[2][4][0] == "date"


def _cells(path: Path) -> list[list[tuple[str, str]]]:
    """(value type, value) of each cell of the first sheet of a flat OpenDocument spreadsheet."""
    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    office = "{%s}" % ns["office"]
    rows = []
    for row in ElementTree.parse(path).getroot().iterfind(".//table:table-row", ns):
        cells = []
        for cell in row.iterfind("table:table-cell", ns):
            kind = cell.get(office + "value-type", "")
            value = cell.get(office + "value") or cell.get(office + "date-value") or "".join(cell.itertext()).strip()
            cells.append((kind, value))
        if any(kind for kind, _value in cells):
            rows.append(cells)
    return rows
