"""Interface language, chosen per site by `language` in site.yml."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_babel import Babel

from cabos.content import current_library

TRANSLATIONS = Path(__file__).parent / "translations"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=lambda: current_library().site.language)
