"""The production mix under load: 90 % article pages, 9 % beacons, 1 % lead forms.

    .venv/bin/python bench/load_mix.py [--duration 20] [--workers 2] [--scenario both]

Serves the app as production does (`cabos serve`: gunicorn with cabos/gunicorn_conf.py,
configured by CABOS_* variables; GUNICORN_CMD_ARGS only adds the request time to the access log),
after `cabos db upgrade`:

- sqlite: one instance on a fresh SQLite file;
- postgresql: two instances (two gunicorn masters on two ports) on one PostgreSQL
  database, `cabos_loadbench`, dropped and created by the run (`--keep` leaves it).

Before the run, Python does what browsers would have done: it reads the sitemap, fetches
every article (its signed view token comes from the rendered page) and opens each guide's
lead form in a few sessions (the session cookie and its CSRF token). Readers are 20,000
returning visitors whose cookies are signed with the bench's secret key. wrk (bench/load_mix.lua)
then runs one bounded load, no warm-up: every beacon is a new page view (fresh nonce), every
form a new address. With two instances, wrk's threads are split between them (thread i talks
to instance i mod 2, same number of connections each): one latency histogram over both.

The form rate limit (FORM_RATE_LIMIT, per client IP) would stop all but 10 forms a minute from
one loopback address: the bench raises it with CABOS_FORM_RATE_LIMIT and reports any 429 anyway.
After the run the instances are stopped gracefully (SIGTERM: the beacon buffers are written)
and the database must hold one reading per accepted beacon (minus named drops) and one
contact per accepted form (counted against the servers' access logs). Answers are reported by
status; anything but 2xx/3xx is an error. The access log also gives each kind's time in the
worker (gunicorn's request time: without the wait in the listen queue that wrk's latency includes).
"""

from __future__ import annotations

import argparse
import contextlib
import html.parser
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from _harness import ROOT, WrkResult, free_port, machine, parse_wrk
from itsdangerous import Signer
from sqlalchemy import func, select

from cabos.contacts.models import Contact
from cabos.db import Database
from cabos.tracking.models import DropCount, Event

LUA = str(Path(__file__).resolve().parent / "load_mix.lua")
CABOS = str(Path(sys.executable).with_name("cabos"))
SECRET = "load-mix-bench"
PG_NAME = "cabos_loadbench"
PG_URL = f"postgresql+psycopg:///{PG_NAME}?host=/var/run/postgresql"
FORM_RATE_LIMIT = "1000000 per minute"
# gunicorn's default access-log line plus the time the request took in the worker (µs).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
KINDS = (("article", "GET /articulos/"), ("beacon", "POST /t/e "), ("form", "POST /guias/"))


def environment(url: str, tmp: Path) -> dict[str, str]:
    """The instances' configuration: CABOS_* variables only, as in production."""
    return {**os.environ,
            "CABOS_CONFIG": str(tmp / "no-instance-file.toml"),  # whatever instance/cabos.toml holds
            "CABOS_DATABASE_URL": url,
            "CABOS_SECRET_KEY": SECRET,
            "CABOS_CONTENT_DIR": "content",
            "CABOS_SITE_URL": "http://127.0.0.1",
            "CABOS_FORM_RATE_LIMIT": FORM_RATE_LIMIT,
            "CABOS_MAIL_BACKEND": "folder",
            "CABOS_MAIL_FOLDER": str(tmp / "mail"),
            "CABOS_PDF_CACHE_DIR": str(tmp / "pdf-cache"),
            # cabos/gunicorn_conf.py as is, with the request time added to its access log.
            "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_LOG_FORMAT}'"}


@contextlib.contextmanager
def instances(count: int, env: dict[str, str], workers: int, log: Path) -> Iterator[list[str]]:
    """`cabos serve` ``count`` times on loopback; yield the base URLs; stop them with SIGTERM."""
    procs, urls = [], []
    with log.open("ab") as out:
        try:
            for _ in range(count):
                port = free_port()
                procs.append(subprocess.Popen([CABOS, "serve", "--host", "127.0.0.1", "--port", str(port),
                                               "--workers", str(workers)], cwd=ROOT, env=env, stdout=out,
                                              stderr=subprocess.STDOUT))
                urls.append(f"http://127.0.0.1:{port}")
            for url in urls:
                ready(url)
            yield urls
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)


def ready(url: str) -> None:
    for _ in range(300):
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + "/readyz", timeout=2).status == 200:
                return
        time.sleep(0.1)
    sys.exit(f"{url} did not become ready: see the server log")


class _LeadForm(html.parser.HTMLParser):
    """The fields of the page's lead form (#lead-form), filled as a reader would."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.select: str | None = None
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "lead-form":
            self.inside = True
        if not self.inside:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if name == "csrf_token":
                self.values[name] = a.get("value", "")
            elif kind == "checkbox":
                self.values[name] = "y"
            elif kind == "text" and name not in ("website", "ref"):  # the honeypot stays empty
                self.values[name] = "Lectora Bench" if name == "name" else "Bench S.L."
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and a.get("value") and self.select not in self.values:
            self.values[self.select] = a["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "form":
            self.inside = False


def prepare(base: str, tmp: Path, targets: list[str], visitors: int, sessions: int) -> Path:
    """What browsers would hold: view tokens, visitor cookies, form sessions; written for wrk."""
    sitemap = urllib.request.urlopen(base + "/sitemap.xml").read().decode()
    paths = [urllib.parse.urlsplit(loc).path for loc in re.findall(r"<loc>([^<]+)</loc>", sitemap)]
    lines = [f"target\t{urllib.parse.urlsplit(t).netloc}" for t in targets]
    articles = [p for p in paths if p.startswith("/articulos/")]
    for path in articles:
        page = urllib.request.urlopen(base + path).read().decode()
        token = re.search(r'data-view="([^"]+)"', page)
        assert token, f"no view token on {path}"
        lines.append(f"article\t{path}\t{token.group(1)}")
    signer = Signer(SECRET, salt="cabos.visitor")
    lines += [f"visitor\t{signer.sign(secrets.token_hex(16)).decode()}" for _ in range(visitors)]
    guides = [p for p in paths if p.startswith("/guias/")]
    for path in guides:
        for _ in range(sessions):
            jar = http.cookiejar.CookieJar()
            page = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)).open(base + path)
            form = _LeadForm()
            form.feed(page.read().decode())
            assert form.values.get("csrf_token"), f"no lead form on {path}"
            cookie = next(c for c in jar if "session" in c.name)
            lines.append(f"form\t{path}\t{cookie.name}={cookie.value}\t{urllib.parse.urlencode(form.values)}")
    mix = tmp / "mix.tsv"
    mix.write_text("\n".join(lines) + "\n")
    return mix


@dataclass
class Run:
    wrk: WrkResult
    sent: dict[str, int]
    statuses: Counter[int]
    socket_errors: dict[str, int]
    stored: dict[str, int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    server_log: Counter[str] = field(default_factory=Counter)
    server_us: dict[str, list[int]] = field(default_factory=dict)


def load(mix: Path, url: str, seconds: int, threads: int, connections: int) -> Run:
    cmd = ["wrk", "-s", LUA, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "BENCH_MIX": str(mix)},
                         cwd=ROOT).stdout
    sent = {m[0]: int(m[1]) for m in re.findall(r"^mix sent (\w+) (\d+)$", out, re.MULTILINE)}
    statuses = Counter({int(m[0]): int(m[1]) for m in re.findall(r"^mix status (\d+) (\d+)$", out, re.MULTILINE)})
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors = dict(zip(errors, map(int, m.groups()), strict=True))
    return Run(parse_wrk(out), sent, statuses, errors)


def stored(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Readings and contacts in the database, and beacons dropped by reason."""
    database = Database(url)
    with database.session() as s:
        counts = {"readings": s.scalar(select(func.count()).select_from(Event).where(Event.type == "reading")),
                  "contacts": s.scalar(select(func.count()).select_from(Contact))}
        drops = dict(s.execute(select(DropCount.reason, func.sum(DropCount.count)).group_by(DropCount.reason)).all())
    database.engine.dispose()
    return {k: int(v or 0) for k, v in counts.items()}, {k: int(v) for k, v in drops.items()}


def server_log(log: Path) -> tuple[Counter[str], dict[str, list[int]]]:
    """Access-log lines by status, tracebacks and error lines, and each kind's times in the workers (µs).

    The preparation's requests (Python's user agent) are left out of the times, not of the counts.
    """
    found: Counter[str] = Counter()
    times: dict[str, list[int]] = {kind: [] for kind, _ in KINDS}
    for line in log.read_text(errors="replace").splitlines():
        if m := re.search(r'"([A-Z]+ \S+) HTTP/[\d.]+" (\d{3}) .* "([^"]*)" (\d+)$', line):
            found[f"access {m.group(2)}"] += 1
            kind = next((k for k, prefix in KINDS if (m.group(1) + " ").startswith(prefix)), None)
            if kind and "Python-urllib" not in m.group(3):
                times[kind].append(int(m.group(4)))
        if "Traceback" in line:
            found["tracebacks"] += 1
        if "[ERROR]" in line or "[CRITICAL]" in line:
            found["error lines"] += 1
    return found, times


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 if ordered else float("nan")


def migrate(url: str, env: dict[str, str]) -> None:
    subprocess.run([CABOS, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)


def scenario(name: str, url: str, count: int, args: argparse.Namespace, tmp: Path) -> Run:
    env = environment(url, tmp)
    migrate(url, env)
    log = tmp / f"{name}.log"
    with instances(count, env, args.workers, log) as urls:
        mix = prepare(urls[0], tmp, urls, args.visitors, args.sessions)
        run = load(mix, urls[0] + "/", args.duration, args.threads, args.connections)
    # Stopped gracefully: every accepted beacon and form must be in the database by now.
    run.stored, run.drops = stored(url)
    run.server_log, run.server_us = server_log(log)
    return run


def report(name: str, run: Run) -> list[str]:
    ok = {s: n for s, n in sorted(run.statuses.items()) if 200 <= s < 400}
    bad = {s: n for s, n in sorted(run.statuses.items()) if not 200 <= s < 400}
    socket = sum(run.socket_errors.values())
    # Stored against what the servers answered (their access logs): wrk stops counting at the
    # deadline while the servers finish what is in flight, so its counts can be a few lower.
    beacons_kept = run.server_log["access 204"] - sum(run.drops.values())
    cells = [name, f"{run.wrk.requests_per_s:,.0f}", f"{run.wrk.p50_ms:.1f}", f"{run.wrk.p99_ms:.1f}",
             f"{run.wrk.requests:,}",
             ", ".join(f"{s}: {n:,}" for s, n in ok.items()),
             ", ".join(f"{s}: {n:,}" for s, n in bad.items()) or "0",
             str(socket) if not socket else ", ".join(f"{k} {v}" for k, v in run.socket_errors.items() if v),
             f"{run.stored['readings']:,} / {beacons_kept:,}",
             f"{run.stored['contacts']:,} / {run.server_log['access 303']:,}",
             "; ".join(f"{kind} {percentile(us, 0.5):.1f} / {percentile(us, 0.99):.1f}"
                       for kind, us in run.server_us.items())]
    lines = ["| " + " | ".join(cells) + " |"]
    lines.append(f"|  sent: {', '.join(f'{k} {v:,}' for k, v in sorted(run.sent.items()))}; "
                 f"beacon drops: {dict(run.drops) or 'none'}; server log: {dict(sorted(run.server_log.items()))}"
                 " |" + " |" * 10)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per scenario")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per instance")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (a multiple of the instances)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections, all threads together")
    parser.add_argument("--visitors", type=int, default=20_000, help="returning readers (signed cookies)")
    parser.add_argument("--sessions", type=int, default=10, help="form sessions (CSRF tokens) per guide")
    parser.add_argument("--scenario", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--keep", action="store_true", help=f"leave the {PG_NAME} database and the temporary folder")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.threads % 2:
        sys.exit("--threads must be even: the PostgreSQL scenario splits them between two instances")
    tmp = Path(tempfile.mkdtemp(prefix="cabos-load-mix-"))
    load_before = os.getloadavg()
    print(f"machine: {machine()}, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB; "
          f"loopback; gunicorn {args.workers} sync workers per instance (cabos serve); wrk {args.threads} threads, "
          f"{args.connections} connections, {args.duration}s, no warm-up; mix 90 % articles / 9 % beacons / "
          f"1 % forms; FORM_RATE_LIMIT raised to {FORM_RATE_LIMIT!r}; load average before "
          f"{load_before[0]:.1f}")
    print("| scenario | req/s | p50 ms | p99 ms | requests | 2xx/3xx by status | other statuses | socket errors "
          "| readings stored / beacons kept | contacts stored / forms accepted | in the worker, p50 / p99 ms |"
          "\n|---|---|---|---|---|---|---|---|---|---|---|")
    runs = []
    if args.scenario in ("sqlite", "both"):
        runs.append(("1 instance, SQLite", scenario("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}", 1, args, tmp)))
        print("\n".join(report(*runs[-1])), flush=True)
    if args.scenario in ("postgresql", "both"):
        subprocess.run(["dropdb", "-h", "/var/run/postgresql", "--if-exists", PG_NAME], check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["createdb", "-h", "/var/run/postgresql", PG_NAME], check=True)
        try:
            runs.append(("2 instances, PostgreSQL", scenario("postgresql", PG_URL, 2, args, tmp)))
        finally:
            if not args.keep:
                subprocess.run(["dropdb", "-h", "/var/run/postgresql", "--if-exists", PG_NAME], check=True)
        print("\n".join(report(*runs[-1])), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}; status 200 = article pages, 204 = beacons, "
          "303 = accepted forms")
    failed = [name for name, run in runs
              if any(not 200 <= s < 400 for s in run.statuses) or sum(run.socket_errors.values())
              or run.stored["readings"] != run.server_log["access 204"] - sum(run.drops.values())
              or run.stored["contacts"] != run.server_log["access 303"]
              or run.server_log["tracebacks"] or run.server_log["error lines"]]
    if failed:
        sys.exit(f"NOT CLEAN: {', '.join(failed)} (server logs in {tmp})")
    elif not args.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
