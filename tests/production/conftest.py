"""Real processes on loopback: `cabos serve` instances and `cabos worker`s on one database.

Each process is started the way the deployment guide starts it (the `cabos` command,
configured only by CABOS_* variables) and stopped with the signal systemd sends. The
instances sit behind an imaginary load balancer: TRUSTED_PROXY_HOPS=1, and every request
says so with X-Forwarded-For (one address per simulated reader) and X-Forwarded-Host.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests

from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.consent import confirm as confirm_consent
from cabos.contacts.models import Contact
from cabos.db import utcnow
from tests.conftest import CABOS, ROOT, SmtpServer, cabos_env

SECRET = "production-test-secret-" + "x" * 40
PUBLIC_HOST = "cabos.test"
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cabos_command() -> str:
    assert Path(CABOS).exists(), f"{CABOS} is missing: install cabos in this environment (pip install -e .)"
    return CABOS


@dataclass
class Process:
    """One cabos process; its output goes to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM (what systemd sends), then wait for a clean exit."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout}s:\n{self.output()[-3000:]}") from None


@dataclass
class Instance(Process):
    url: str = ""


@dataclass
class Cluster:
    """Starts processes that share one database and one secret; stops them all at the end."""

    database_url: str
    tmp: Path
    smtp: SmtpServer
    settings: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return cabos_env(self.database_url, ROOT / "content", secret=SECRET, **{
            "CABOS_SITE_URL": f"http://{PUBLIC_HOST}",
            "CABOS_TRUSTED_PROXY_HOPS": "1",
            "CABOS_PDF_CACHE_DIR": str(self.tmp / "pdf-cache"),
            "CABOS_MAIL_BACKEND": "smtp",
            "CABOS_MAIL_SERVER": self.smtp.host,
            "CABOS_MAIL_PORT": str(self.smtp.port),
            "CABOS_MAIL_FROM": f"hola@{PUBLIC_HOST}",
            "CABOS_MAIL_TIMEOUT": "5",
            "CABOS_TRACKING_FLUSH_MS": "200",
            "CABOS_TRACKING_SPILL_DIR": str(self.tmp / "tracking-spill"),
            "CABOS_LOG_FORMAT": "json",
            **self.settings, **extra,
        })

    def _start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        with log.open("ab") as out:
            return subprocess.Popen([cabos_command(), *args], env=self.env(**extra), stdout=out,
                                    stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True)

    def instance(self, name: str, workers: int = 2, **extra: str) -> Instance:
        port = free_port()
        popen = self._start(name, ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            **extra)
        instance = Instance(name, popen, self.tmp / f"{name}.log", url=f"http://127.0.0.1:{port}")
        self.processes.append(instance)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise AssertionError(f"{name} exited with {popen.returncode}:\n{instance.output()[-3000:]}")
            try:
                if requests.get(instance.url + "/healthz", timeout=2).status_code == 200:
                    return instance
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{name} did not answer /healthz within 60s:\n{instance.output()[-3000:]}")

    def worker(self, name: str, interval: float = 0.3, **extra: str) -> Process:
        popen = self._start(name, ["worker", "--interval", str(interval)], **extra)
        process = Process(name, popen, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A one-off `cabos …` command against the shared database."""
        return subprocess.run([cabos_command(), *args], env=self.env(), cwd=self.tmp, capture_output=True,
                              text=True, timeout=120)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()


@pytest.fixture
def cluster(database_url: str, tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Cluster]:
    c = Cluster(database_url, tmp_path, smtp_server)
    try:
        yield c
    finally:
        c.stop_all()


# --- a reader behind the load balancer -------------------------------------------------------------------


class _Forms(HTMLParser):
    """The first form with a CSRF token on a page: its action and fields (inputs and selects)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self.view: tuple[str, str, str] | None = None  # (kind, slug, token) of the tracked page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-view" in a and self.view is None:
            self.view = (a.get("data-kind", ""), a.get("data-slug", ""), a["data-view"])
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {},
                          "required": set(), "checkboxes": []}
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                self._form["checkboxes"].append(a["name"])
            else:
                self._form["fields"][a["name"]] = a.get("value", "")
            if "required" in a:
                self._form["required"].add(a["name"])
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"][self._select] = ""
        elif self._select and tag == "option" and a.get("value") and self._form is not None:
            if not self._form["fields"][self._select]:
                self._form["fields"][self._select] = a["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def parse_page(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


class Reader:
    """One person's browser: its own cookies and address, talking to whichever instance it is sent to."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": BROWSER_UA, "X-Forwarded-For": address,
                                  "X-Forwarded-Host": PUBLIC_HOST, "X-Forwarded-Proto": "http",
                                  "Accept-Language": "es"})

    def get(self, instance: Instance, path: str, timeout: float = 10) -> requests.Response:
        return self.http.get(instance.url + path, timeout=timeout, allow_redirects=False)

    def beacon(self, instance: Instance, token: str, view_nonce: str, engaged_ms: int, scroll_pct: int,
               seq: int = 0, timeout: float = 10) -> requests.Response:
        body = {"token": token, "nonce": view_nonce, "seq": seq, "engaged_ms": engaged_ms, "scroll_pct": scroll_pct,
                "read_to_end": scroll_pct >= 95, "age_ms": engaged_ms + 500, "ctas": [], "query": "",
                "referrer": "", "dnt": False, "webdriver": False}
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": f"http://{PUBLIC_HOST}",
                   "Sec-Fetch-Site": "same-origin"}
        # The visitor cookie is __Host- only over HTTPS; here it is a plain first-party cookie.
        return self.http.post(instance.url + "/t/e", data=json.dumps(body), headers=headers, timeout=timeout)

    def read(self, instance: Instance, path: str) -> tuple[str, str, str]:
        """GET a tracked page; its (kind, slug, view token)."""
        page = self.get(instance, path)
        assert page.status_code == 200, (path, page.status_code)
        view = parse_page(page.text).view
        assert view is not None, f"no tracked view on {path}"
        return view

    def fill_form(self, instance: Instance, path: str, email: str, name: str = "Ana Pérez",
                  consent: bool = True) -> requests.Response:
        """GET a page with a lead form and post it back as a person would, filled in."""
        page = self.get(instance, path)
        assert page.status_code == 200, (path, page.status_code)
        forms = [f for f in parse_page(page.text).forms if "csrf_token" in f["fields"]]
        assert forms, f"no form on {path}"
        form = forms[0]
        data = dict(form["fields"])
        for key, value in data.items():
            if not value and key not in ("website",):  # the honeypot stays empty
                data[key] = "Almacenes Prueba" if key != "email" else email
        data.update({"name": name, "email": email})
        for box in form["checkboxes"]:
            if consent:
                data[box] = "y"
        action = form["action"] or path
        return self.http.post(instance.url + action, data=data, timeout=20, allow_redirects=False,
                              headers={"Referer": f"http://{PUBLIC_HOST}{path}"})


def view_nonce() -> str:
    return secrets.token_hex(16)


def click_consent_links(session: Session, email_like: str) -> int:
    """Everyone whose address matches ``email_like`` clicks their consent confirmation (double opt-in).

    What the emailed link's button runs (cabos.contacts.consent.confirm): marketing consent counts from
    then on, so the workers' tick enrols them in the welcome sequence.
    """
    contacts = list(session.scalars(select(Contact).where(Contact.email.like(email_like))))
    for contact in contacts:
        confirm_consent(session, contact, form="guide", content="guia", text="Acepto recibir guías por email.",
                        language="es", given_at=utcnow(), now=utcnow())
    session.commit()
    return len(contacts)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def outbox_ids(smtp: SmtpServer) -> list[int]:
    """Outbox row ids of the nurture emails the SMTP server received (one per delivery)."""
    return [int(m.message["X-Cabos-Outbox"]) for m in list(smtp.messages) if m.message["X-Cabos-Outbox"]]


ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


# --- a private PostgreSQL server that a test may stop and start --------------------------------------------


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL server (initdb in a temporary folder) that only this test uses."""

    bindir: Path
    data: Path
    socket_dir: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://cabos@/cabos?host={self.socket_dir}&port={self.port}"

    def _run(self, *args: str) -> None:
        # initdb and pg_ctl refuse to run as root: run them as the postgres system user then.
        owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*owner, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.socket_dir} -c listen_addresses='' -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """Only in the PostgreSQL pass: the fault tests stop this server, never the shared one."""
    import shutil
    import tempfile

    if not os.environ.get("CABOS_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("PostgreSQL faults run in the PostgreSQL pass (CABOS_TEST_DATABASE_URL)")
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="cabos-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(bindir, root / "data", root, free_port(), root / "server.log")
    try:
        server._run(str(bindir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "cabos", "--no-sync",
                    "-E", "UTF8", "--locale", "C")
        server.start()
        subprocess.run([str(bindir / "createdb"), "-h", str(root), "-p", str(server.port), "-U", "cabos", "cabos"],
                       check=True, capture_output=True, timeout=60)
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)
