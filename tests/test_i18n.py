"""Every interface string exists in Spanish and English, and the compiled catalogs are current."""

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "cabos" / "site" / "translations"


def _t(value: object) -> object:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_every_string_has_a_spanish_translation() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "translations.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compiled_catalogs_match_their_sources() -> None:
    for language in ("es", "en"):
        folder = TRANSLATIONS / language / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as fh:
            po = {_t(m.id): _t(m.string) for m in read_po(fh) if m.id}
        with (folder / "messages.mo").open("rb") as fh:
            mo = {_t(m.id): _t(m.string) for m in read_mo(fh) if m.id}
        expected = {k: v for k, v in po.items() if v and (not isinstance(v, tuple) or all(v))}
        hint = f"run: python scripts/translations.py ({language})"
        assert expected.items() <= mo.items(), hint
        assert set(mo) <= set(po), hint


NOT_TEXT = {".css", ".js", ".png", ".jpg", ".svg", ".ico", ".woff", ".woff2", ".ttf", ".otf"}


def test_every_template_is_read_for_strings() -> None:
    """A template kind babel.cfg does not list (the .txt emails once) keeps its strings in English."""
    from babel.util import pathmatch
    patterns = [line.strip()[1:-1].split(":", 1)[1].strip()
                for line in (ROOT / "babel.cfg").read_text().splitlines() if line.startswith("[")]
    templates = [p.relative_to(ROOT).as_posix() for p in (ROOT / "cabos").rglob("templates/**/*")
                 if p.is_file() and p.suffix not in NOT_TEXT]
    assert templates
    unread = [t for t in templates if not any(pathmatch(p, t) for p in patterns)]
    assert not unread, f"add a pattern to babel.cfg for: {unread}"
