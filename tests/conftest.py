"""Shared fixtures, named for roles: app, client, runner, session, content.

The database is real: a migrated SQLite file per test (copied from a
template migrated once), or, when CABOS_TEST_DATABASE_URL is set, a
PostgreSQL database migrated once and emptied between tests.
"""

from __future__ import annotations

import os
import sys
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from cabos import migrate
from cabos.cli import cli as cabos_cli
from cabos.db import Database, make_engine
from cabos.schema import metadata
from cabos.site import create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONTENT = ROOT / "content"
CABOS = str(Path(sys.executable).parent / "cabos")  # the command installed beside this interpreter
SECRET = "test-secret-not-for-production"


def cabos_env(database_url: str, content: Path, secret: str = SECRET, **extra: str) -> dict[str, str]:
    """The environment of a `cabos` subprocess on this test's database: CABOS_* settings only,
    and never the developer's instance/cabos.toml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CABOS_")}
    env.update({"CABOS_DATABASE_URL": database_url, "CABOS_CONTENT_DIR": str(content), "CABOS_SECRET_KEY": secret,
                "CABOS_SITE_URL": "http://localhost", "CABOS_CONFIG": str(ROOT / "no-such-config.toml"),
                "PYTHONUNBUFFERED": "1", **extra})
    return env
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


def _empty_postgres(engine: Engine) -> None:
    """Empty every table for the next test. A connection the test left open (a thread still
    writing) would make TRUNCATE wait for ever or deadlock: wait 20 s at most, then say who."""
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    except OperationalError as error:
        with engine.connect() as conn:
            others = conn.execute(text(
                "SELECT application_name, state, left(query, 120) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        raise AssertionError(f"the test left connections open, so its tables could not be emptied: "
                             f"{[tuple(row) for row in others]}") from error


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if PG_URL:
        url = request.getfixturevalue("_postgres_migrated")
        yield url
        engine = make_engine(url)
        try:
            _empty_postgres(engine)
        finally:
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
        "TRACKING_SPILL_DIR": str(tmp_path / "tracking-spill"),
        **app_config,
    }
    application = create_app(config)
    application.instance_path = str(instance)
    yield application
    close_app(application)


def close_app(application: Flask) -> None:
    """What a process does at exit: stop the writer threads (they write what is left), then close
    the pool. A connection a thread still held when the pool closed would be left open, and
    garbage-collected later, in another test."""
    tracking = application.extensions.get("cabos.tracking")
    if tracking is not None:
        tracking.buffer.close()
        tracking.limiter.close()
    downloads = application.extensions.get("cabos.download_log")
    if downloads is not None:
        downloads.close()
    application.extensions["cabos.db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class CabosRunner(FlaskCliRunner):
    """Invokes the `cabos` command group (not app.cli) against this test's app."""

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().invoke(cli or cabos_cli, args, **kwargs)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return CabosRunner(app)


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
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"), "SITE_URL": "http://localhost",
            "TRACKING_SPILL_DIR": str(tmp_path / "tracking-spill"), **config,
        })
        apps.append(application)
        return application

    yield build
    for application in apps:
        close_app(application)


# --- a real SMTP server on loopback (guides, nurture) ---------------------------------


@dataclass
class Delivered:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = b""  # as received, for signatures


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1: collects what it receives, refuses the recipients it is told to."""

    host: str
    port: int
    messages: list[Delivered] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    sessions: list[Any] = field(default_factory=list)  # one per SMTP connection that sent a message
    transports: list[Any] = field(default_factory=list)
    loop: Any = None

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def hang_up(self) -> None:
        """Close every open connection from the server's side, as an idle timeout does."""
        done = threading.Event()

        def close() -> None:
            for transport in self.transports:
                transport.close()
            done.set()

        self.loop.call_soon_threadsafe(close)
        done.wait(5)

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO for ``address`` with ``reply`` (a 5xx is permanent, a 4xx temporary)."""
        self.refused[address.lower()] = reply

    @property
    def settings(self) -> dict[str, Any]:
        """The MAIL_* settings that make an app deliver here."""
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": self.host, "MAIL_PORT": self.port,
                "MAIL_USE_TLS": False, "MAIL_USE_SSL": False, "MAIL_TIMEOUT": 5}


class _CollectingHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.server.refused.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not any(s is session for s in self.server.sessions):
            self.server.sessions.append(session)
            self.server.transports.append(server.transport)
        message = message_from_bytes(envelope.content, policy=email_policy.default)
        self.server.messages.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), message,  # type: ignore[arg-type]
                                              envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port; ``smtp_server.settings`` points an app at it."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = SmtpServer("127.0.0.1", port)
    controller = Controller(_CollectingHandler(server), hostname="127.0.0.1", port=port)
    controller.start()
    server.loop = controller.loop
    try:
        yield server
    finally:
        controller.stop()


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    # A reader, not a robot: without this navigator.webdriver is true and the beacon is dropped as a bot.
    "--disable-blink-features=AutomationControlled",
    # Beacons sent while a page unloads leave with the browser's own User-Agent, not the context's:
    # a headless one would be dropped as a bot, so the browser says it is Chrome.
    "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright: one browser for the whole run (Playwright's
    sync API allows one at a time in a thread); each test opens its own context. Skips if missing."""
    playwright = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class LiveServer:
    """The test's app on a real HTTP server: ``live_server.url + '/path'``."""

    app: Flask
    url: str


class _OneRequestHandler(WSGIRequestHandler):
    """HTTP/1.0: one request per connection, so a connection's thread is one request's thread."""

    protocol_version = "HTTP/1.0"


class _TestServer(ThreadedWSGIServer):
    """werkzeug's threaded server, keeping every connection so that teardown can wait for its request.

    The stock server runs requests in daemon threads nobody waits for. A beacon chromium sends
    as a page closes could still be writing when the app closed its pool and the next fixture
    truncated the tables: a deadlock in one test and a connection garbage-collected in another.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__("127.0.0.1", 0, app, handler=_OneRequestHandler)
        self.connections: list[tuple[threading.Thread, socket.socket]] = []

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="live-server-request", daemon=True)
        self.connections.append((thread, request))
        thread.start()

    def finish(self, timeout: float = 10.0) -> None:
        """Stop accepting, end what the clients have not sent yet, and wait for the requests
        already received; fail if one hangs.

        Shutting the reading side leaves the bytes already received readable (Linux), so a
        request that arrived completes; a connection chromium opened ahead of need ends at once.
        """
        self.shutdown()
        self.server_close()
        for _, connection in self.connections:
            try:
                connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # the request already finished and closed it
        deadline = time.monotonic() + timeout
        for thread, _ in self.connections:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = sum(thread.is_alive() for thread, _ in self.connections)
        assert running == 0, f"{running} request(s) to the live server still running {timeout:.0f} s after the test"


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """Serve this test's ``app`` with werkzeug in a thread on a free 127.0.0.1 port (browser tests).

    Teardown waits for every request the server accepted, so nothing writes to the database
    after the test's app has closed it.
    """
    server = _TestServer(app)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.finish()
        thread.join(timeout=5)


# --- staff accounts (every part with staff pages) -------------------------------------


STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_staff(db: Database):  # type: ignore[no-untyped-def]
    """Create a staff user: ``make_staff("sales", email="ana@example.com")`` → StaffUser (committed).

    The password is STAFF_PASSWORD, hashed with argon2id's cheapest parameters to keep tests
    fast (a real sign-in rehashes it with the production ones).
    """
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from cabos.staff.models import StaffUser

    cheap = PasswordHasher.from_parameters(CHEAPEST).hash(STAFF_PASSWORD)
    counter = iter(range(1, 10_000))

    def build(role: str = "admin", email: str | None = None, name: str = "", active: bool = True) -> StaffUser:
        n = next(counter)
        with db.sessions() as s:
            user = StaffUser(email=email or f"{role}{n}@staff.example", name=name or f"{role.title()} {n}", role=role,
                             password_hash=cheap, active=active)
            s.add(user)
            s.commit()
            s.refresh(user)
            s.expunge(user)
        return user

    return build


def staff_login(client: FlaskClient, user: Any) -> FlaskClient:
    """Sign ``client`` in as ``user`` without the form (the sign-in itself has its own tests)."""
    import time

    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
        sess["_staff_at"] = time.time()
    return client


@pytest.fixture
def staff_client(app: Flask, make_staff):  # type: ignore[no-untyped-def]
    """A test client signed in with a new account of ``role``: ``staff_client("marketer")``."""

    def build(role: str = "admin", **kwargs: Any) -> FlaskClient:
        return staff_login(app.test_client(), make_staff(role, **kwargs))

    return build
