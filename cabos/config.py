"""Settings as data: every setting has a default and a line of help.

Load order (later wins): these defaults, ``instance/cabos.toml`` (or the file
named by ``CABOS_CONFIG``), ``CABOS_*`` environment variables, then the
mapping a caller passes to ``create_app`` (tests do). The README documents
every setting; ``tests/test_config.py`` fails when one is missing there.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", None,
            "Signs sessions, download links, view ids and unsubscribe tokens. "
            "Required in production; development generates one per instance folder."),
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL. Default: SQLite file `cabos.sqlite3` in the instance folder. "
            "PostgreSQL: `postgresql+psycopg://user:pass@host/db`."),
    Setting("CONTENT_DIR", "content",
            "Folder with site.yml, problems.yml, articles/, guides/, pages/ (relative to the working directory)."),
    Setting("CONTENT_RELOAD", False,
            "Reload content when files change, checked at most once a second (on in `cabos serve --dev`)."),
    Setting("SITE_URL", None,
            "Public base URL used in canonical links, sitemap, feed and emails. Default: `base_url` in site.yml."),
    Setting("PDF_CACHE_DIR", None,
            "Where rendered guide PDFs are cached. Default: `pdf-cache` in the instance folder. "
            "Share it between instances, or let each instance rebuild (rendering is deterministic)."),
    Setting("DOWNLOAD_LINK_MAX_AGE", 7 * 24 * 3600,
            "Seconds a signed guide download link stays valid (default 7 days)."),
    Setting("MAIL_BACKEND", "folder",
            "`smtp` to deliver through MAIL_SERVER, `folder` to write .eml files to MAIL_FOLDER (development)."),
    Setting("MAIL_FOLDER", None, "Where the folder backend writes messages. Default: `mail` in the instance folder."),
    Setting("MAIL_SERVER", "localhost", "SMTP host."),
    Setting("MAIL_PORT", 25, "SMTP port."),
    Setting("MAIL_USE_TLS", False, "Upgrade the SMTP connection with STARTTLS."),
    Setting("MAIL_USE_SSL", False, "Connect to SMTP over implicit TLS (usually port 465)."),
    Setting("MAIL_USERNAME", None, "SMTP user name, if the server needs one."),
    Setting("MAIL_PASSWORD", None, "SMTP password."),
    Setting("MAIL_FROM", "cabos@localhost", "From address of every email cabos sends."),
    Setting("MAIL_TIMEOUT", 30, "Seconds before an SMTP connection attempt gives up."),
    Setting("RATELIMIT_STORAGE_URI", "memory://",
            "Where rate-limit counters live (Flask-Limiter storage URI). Use a shared store "
            "(e.g. `redis://…`) when several instances run."),
    Setting("FORM_RATE_LIMIT", "10 per minute", "Lead-form posts allowed per client IP."),
    Setting("TRUSTED_PROXY_HOPS", 0,
            "Number of reverse proxies in front of cabos whose X-Forwarded-* headers are trusted (0: none)."),
    Setting("TRACKING_RETENTION_DAYS", 730, "Events older than this are removed by `cabos tracking purge`."),
    Setting("ANONYMOUS_RETENTION_DAYS", 90,
            "Visitors who never identified are removed, with their events, after this many days of inactivity."),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def _coerce(value: str, default: Any) -> Any:
    """Environment values are strings; give them the type of the default."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the instance file, ``CABOS_*`` variables and overrides."""
    config = dict(DEFAULTS)
    config_file = Path(os.environ.get("CABOS_CONFIG", instance_path / "cabos.toml"))
    if config_file.is_file():
        with config_file.open("rb") as fh:
            config.update({k.upper(): v for k, v in tomllib.load(fh).items()})
    for setting in SETTINGS:
        raw = os.environ.get(f"CABOS_{setting.name}")
        if raw is not None:
            config[setting.name] = _coerce(raw, setting.default)
    if overrides:
        config.update(overrides)
    return config
