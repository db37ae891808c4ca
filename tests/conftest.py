"""Shared fixtures, named for roles: app, client, runner, session, content.

The database is real: a migrated SQLite file per test (copied from a
template migrated once), or, when CABOS_TEST_DATABASE_URL is set, a
PostgreSQL database migrated once and emptied between tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from cabos import migrate
from cabos.db import Database, make_engine
from cabos.schema import metadata
from cabos.site import create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONTENT = ROOT / "content"
PG_URL = os.environ.get("CABOS_TEST_DATABASE_URL")


def pytest_report_header() -> str:
    return f"cabos database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (file per test)'}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_migrated() -> str | None:
    if not PG_URL:
        return None
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate.upgrade(engine)
    engine.dispose()
    return PG_URL


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if PG_URL:
        url = request.getfixturevalue("_postgres_migrated")
        yield url
        engine = make_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        path = tmp_path / "cabos.sqlite3"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"


@pytest.fixture
def content_dir() -> Path:
    """The content folder the app serves; override to serve other content."""
    return DEMO_CONTENT


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for this test's app; override or update in a test module."""
    return {}


@pytest.fixture
def app(tmp_path: Path, database_url: str, content_dir: Path, app_config: dict[str, Any]) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-not-for-production",
        "DATABASE_URL": database_url,
        "CONTENT_DIR": str(content_dir),
        "MAIL_BACKEND": "folder",
        "MAIL_FOLDER": str(tmp_path / "mail"),
        "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        "SITE_URL": "http://localhost",
        **app_config,
    }
    application = create_app(config)
    application.instance_path = str(instance)
    yield application
    application.extensions["cabos.db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["cabos.db"]


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session for arranging and asserting; commit what the app must see."""
    with db.sessions() as s:
        yield s


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write a content tree: {'articles/a.md': '---\\ntitle: A\\n---\\nbody'}."""
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
    return root


MINIMAL_SITE = """\
name: Test Co
language: {language}
base_url: http://example.test
stages:
  - {{slug: learn, name: Learn}}
  - {{slug: compare, name: Compare}}
  - {{slug: decide, name: Decide}}
"""

MINIMAL_PROBLEMS = """\
- slug: slow-orders
  name: Slow orders
  description: Orders leave late.
  questions: ["How many orders a day?"]
- slug: bad-stock
  name: Bad stock
  description: Stock does not match.
  questions: ["How often do you count?"]
"""


@pytest.fixture
def make_content(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build a small content folder: make_content({'articles/x.md': ...}, language='en')."""

    def build(files: dict[str, str | bytes] | None = None, language: str = "en") -> Path:
        root = tmp_path / "content"
        base: dict[str, str | bytes] = {
            "site.yml": MINIMAL_SITE.format(language=language),
            "problems.yml": MINIMAL_PROBLEMS,
        }
        return write(root, {**base, **(files or {})})

    return build


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """Build another app on this test's database, serving ``content``."""
    apps: list[Flask] = []

    def build(content: Path, **config: Any) -> Flask:
        application = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret-not-for-production", "DATABASE_URL": database_url,
            "CONTENT_DIR": str(content), "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail"),
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"), "SITE_URL": "http://localhost", **config,
        })
        apps.append(application)
        return application

    yield build
    for application in apps:
        application.extensions["cabos.db"].engine.dispose()
