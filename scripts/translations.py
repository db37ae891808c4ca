"""Keep interface translations in step with the code.

    python scripts/translations.py          # extract, update es/en catalogs, compile
    python scripts/translations.py --check  # exit 1 if a string lacks a Spanish translation

New strings appear in cabos/site/translations/es/LC_MESSAGES/messages.po with
an empty msgstr: translate them there, then run this script again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "cabos" / "site" / "translations"
LANGUAGES = ("es", "en")
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def missing(language: str) -> list[str]:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    out = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def not_in_catalog(pot: Path, language: str) -> list[str]:
    """Strings the code uses that the language's catalog has not taken in yet."""
    with pot.open("rb") as fh:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    return sorted(wanted - known)


def main() -> int:
    pot = TRANSLATIONS / "messages.pot"
    subprocess.run([*PYBABEL, "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), "--no-location",
                    "--omit-header", "--sort-output", "-k", "_l", str(ROOT)], check=True, cwd=ROOT, capture_output=True)
    if "--check" in sys.argv:
        gaps = not_in_catalog(pot, "es") + missing("es")
        for msgid in gaps:
            print(f"no Spanish translation: {msgid!r}")
        return 1 if gaps else 0
    for language in LANGUAGES:
        if not (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").exists():
            subprocess.run([*PYBABEL, "init", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", language],
                           check=True, cwd=ROOT, capture_output=True)
        subprocess.run([*PYBABEL, "update", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", language,
                        "--no-fuzzy-matching"], check=True, cwd=ROOT, capture_output=True)
        po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)
    for msgid in missing("es"):
        print(f"to translate in es/LC_MESSAGES/messages.po: {msgid!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
