"""`cabos doctor`: configuration problems, in plain words, before they bite."""

from __future__ import annotations

import json
import os
import smtplib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import click
import weasyprint
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cabos import mail_auth
from cabos.db import database
from cabos.sales.crm.sync import connector
from cabos.migrate import alembic_config
from cabos.limits import storage as limit_storage


@dataclass(frozen=True)
class Finding:
    level: str  # "problem" | "warning" | "ok"
    topic: str
    message: str


def _secret(app: Flask) -> Finding:
    if not os.environ.get("CABOS_SECRET_KEY") and not _from_file(app, "secret_key"):
        return Finding("warning", "secret", "SECRET_KEY is the development key generated in the instance "
                       "folder. Set CABOS_SECRET_KEY to one long random value shared by every instance "
                       "(python -c 'import secrets; print(secrets.token_hex(32))').")
    if len(str(app.config["SECRET_KEY"])) < 32:
        return Finding("problem", "secret", "SECRET_KEY is shorter than 32 characters: use a long random value.")
    return Finding("ok", "secret", "SECRET_KEY is set.")


def _from_file(app: Flask, key: str) -> bool:
    path = Path(app.instance_path) / "cabos.toml"
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        return key in tomllib.load(fh)


def _database(app: Flask) -> list[Finding]:
    db = database(app)
    out = []
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        out.append(Finding("ok", "database", f"{db.engine.dialect.name} database reachable."))
    except SQLAlchemyError as exc:
        return [Finding("problem", "database", f"cannot connect to the database: {exc.__class__.__name__}: "
                        f"{str(exc).splitlines()[0]}. Check CABOS_DATABASE_URL.")]
    if db.is_sqlite:
        out.append(Finding("warning", "database", "SQLite is fine for one machine. Several app instances on "
                           "different machines need PostgreSQL (CABOS_DATABASE_URL=postgresql+psycopg://…)."))
    heads = set(ScriptDirectory.from_config(alembic_config(db.engine)).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        out.append(Finding("problem", "database", "the schema is not up to date: run `cabos db upgrade`."))
    return out


def _mail(app: Flask) -> Finding:
    if app.config["MAIL_BACKEND"] != "smtp":
        return Finding("warning", "mail", f"MAIL_BACKEND is {app.config['MAIL_BACKEND']!r}: emails are written "
                       "to a folder, not sent. Set CABOS_MAIL_BACKEND=smtp and the MAIL_* settings.")
    host, port = app.config["MAIL_SERVER"], int(app.config["MAIL_PORT"])
    try:
        cls = smtplib.SMTP_SSL if app.config["MAIL_USE_SSL"] else smtplib.SMTP
        with cls(host, port, timeout=5) as smtp:
            smtp.noop()
        return Finding("ok", "mail", f"SMTP server {host}:{port} answers.")
    except (OSError, smtplib.SMTPException) as exc:
        return Finding("problem", "mail", f"SMTP server {host}:{port} is unreachable ({exc.__class__.__name__}). "
                       "Check CABOS_MAIL_SERVER and CABOS_MAIL_PORT.")


def _mail_dns(app: Flask) -> list[Finding]:
    """The SPF, DKIM and DMARC records to publish and, where names resolve, whether they are there."""
    if app.config["MAIL_BACKEND"] != "smtp":
        return []
    try:
        wanted = mail_auth.records(app.config)
    except ValueError as exc:
        return [Finding("problem", "dkim", f"{exc}.")]
    out = []
    if not any(r.kind == "DKIM" for r in wanted):
        out.append(Finding("warning", "dkim", "emails are not DKIM-signed by cabos. Unless your provider signs them, "
                           "generate a key (openssl genrsa -out dkim.pem 2048) and set CABOS_MAIL_DKIM_SELECTOR "
                           "and CABOS_MAIL_DKIM_PRIVATE_KEY."))
    lookup = app.extensions.get("cabos.dns_txt") or mail_auth.lookup_txt
    resolvable = True
    for record in wanted:
        publish = f'{record.name} TXT "{record.value}"'
        topic = record.kind.lower()
        if not resolvable:
            out.append(Finding("warning", topic, f"publish {publish}"))
            continue
        try:
            found = lookup(record.name)
        except mail_auth.CannotResolve as exc:
            resolvable = False
            out.append(Finding("warning", topic, f"cannot check DNS from this machine ({exc}). Publish {publish} "
                               f"and check it from a machine that can: dig +short TXT {record.name}"))
            continue
        if any(record.matches(v) for v in found):
            out.append(Finding("ok", topic, f"{record.name} has the {record.kind} record."))
        elif found:
            out.append(Finding("problem", topic, f"{record.name} has TXT records but not the {record.kind} one "
                               f"cabos needs: publish {publish}"))
        else:
            out.append(Finding("problem", topic, f"{record.name} has no {record.kind} record: publish {publish}"))
    return out


def _weasyprint() -> Finding:
    try:
        weasyprint.HTML(string="<p>ok</p>").write_pdf()
        return Finding("ok", "pdf", f"WeasyPrint {weasyprint.__version__} renders PDFs.")
    except OSError as exc:
        return Finding("problem", "pdf", f"WeasyPrint cannot render ({exc}). Install its libraries: "
                       "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core")


def _content(app: Flask) -> Finding:
    lib = app.extensions["cabos.content"].library
    if lib.errors:
        return Finding("problem", "content", f"{len(lib.errors)} errors in the content: run `cabos check`.")
    return Finding("ok", "content", f"{len(lib.articles)} articles, {len(lib.guides)} guides, no errors.")


def _site_url(app: Flask) -> Finding:
    url = app.config.get("SITE_URL") or app.extensions["cabos.content"].library.site.base_url
    if "localhost" in url or "127.0.0.1" in url:
        return Finding("warning", "site", f"the public URL is {url}: links in emails will not work for "
                       "readers. Set CABOS_SITE_URL (or base_url in site.yml).")
    if not url.startswith("https://"):
        return Finding("warning", "site", f"the public URL {url} is not HTTPS: cookies are not Secure.")
    return Finding("ok", "site", f"public URL {url}.")


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def _site_answers(app: Flask) -> Finding | None:
    """A base URL on this machine (development) must be where this site answers, or every link misses it."""
    url = str(app.config.get("SITE_URL") or app.extensions["cabos.content"].library.site.base_url).rstrip("/")
    if (urlsplit(url).hostname or "") not in LOCAL_HOSTS:
        return None  # a public address: checked by the people who read the emails, not from here
    try:
        with urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - an http(s) URL from settings
            answered = json.loads(response.read(200) or b"{}").get("status") == "ok"
    except (OSError, ValueError):
        answered = False
    if answered:
        return Finding("ok", "base url", f"{url} answers as this site.")
    return Finding("warning", "base url", f"nothing answers as this site at the configured base URL {url}: links in "
                   "emails and PDF covers will point elsewhere. Serve it there, or set CABOS_SITE_URL to where it "
                   "answers (`cabos serve --dev` follows its own --port when CABOS_SITE_URL is not set).")


def _rate_limits(app: Flask) -> Finding:
    uri = str(app.config["RATELIMIT_STORAGE_URI"])
    if uri.startswith("memory://"):
        return Finding("warning", "limits", "rate limits are counted per process (memory://): with several "
                       "gunicorn workers or instances each counts on its own. Use CABOS_RATELIMIT_STORAGE_URI=database "
                       "(the default) or redis://….")
    return Finding("ok", "limits", "rate limits are shared by every process " +
                   ("(in the database)." if limit_storage.is_database(uri) else f"({uri.split('://')[0]})."))


def _crm(app: Flask) -> list[Finding]:
    """Each CRM content/crm.yml names: its settings present and its mapping free of errors (no network)."""
    out = []
    for name, mapping in (app.extensions["cabos.content"].library.sections.get("crm") or {}).items():
        crm = connector(name, app.config, mapping)
        if mapping.errors:
            out.append(Finding("problem", "crm", f"{crm.label}: content/crm.yml has errors: run `cabos check`."))
        elif crm.missing():
            out.append(Finding("problem", "crm", f"{crm.label} is named in content/crm.yml but "
                               f"{', '.join('CABOS_' + s for s in crm.missing())} is not set: handoffs cannot be "
                               "pushed (docs/crm.md)."))
        else:
            out.append(Finding("ok", "crm", f"{crm.label} is configured; `cabos crm test` checks it against the CRM."))
    return out


def diagnose(app: Flask) -> list[Finding]:
    """Every check, in the order an operator would fix them."""
    answers = _site_answers(app)
    return [_secret(app), *_database(app), _content(app), _site_url(app), *([answers] if answers else []),
            _rate_limits(app), _mail(app), *_mail_dns(app), _weasyprint(), *_crm(app)]


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Print configuration problems in plain words; exit 1 if any is serious."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    findings = diagnose(app)
    colours = {"problem": "red", "warning": "yellow", "ok": "green"}
    for f in findings:
        click.secho(f"{f.level:8} {f.topic:9} {f.message}", fg=colours[f.level])
    raise SystemExit(1 if any(f.level == "problem" for f in findings) else 0)
