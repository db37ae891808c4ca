"""Beacon ingest throughput: cabos vs a bare Flask endpoint that parses the same JSON.

    .venv/bin/python bench/tracking_ingest.py [--seconds 10] [--rounds 5]

Both run under gunicorn with 2 sync workers on loopback, in the same run, loaded by wrk
(bench/tracking_ingest.lua): every request is a new page view of a demo article from one
of 20,000 returning visitors. cabos runs its whole pipeline (parse, validate, drop,
enrich) and queues the reading; the write buffer stores batches on SQLite. After each
cabos run the server is stopped gracefully (SIGTERM) and every beacon wrk saw answered
must be in the database: readings + drops >= requests.
The machine is shared and noisy: rounds alternate the two servers and the median ratio
is the figure; the workers' CPU time per request (from /proc) is printed beside it, as a
second view less sensitive to what else runs. Goal: ratio >= 0.6, nothing lost.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import tempfile
from pathlib import Path

from _harness import ROOT, WrkResult, gunicorn, machine, row, wrk
from itsdangerous import Signer
from sqlalchemy import func, select

from cabos import migrate
from cabos.db import Database, make_engine
from cabos.site import create_app
from cabos.tracking import tokens
from cabos.tracking.models import DropCount, Event

LUA = str(Path(__file__).resolve().parent / "tracking_ingest.lua")


def worker_cpu(base: str) -> float:
    """CPU seconds used so far by the gunicorn workers serving ``base`` (from /proc)."""
    port = base.rsplit(":", 1)[1]
    master = subprocess.run(["pgrep", "-f", f"gunicorn --bind 127.0.0.1:{port}"], capture_output=True,
                            text=True).stdout.split()[0]
    total = 0.0
    for pid in subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measured(base: str, seconds: int) -> tuple[WrkResult, float]:
    """wrk's figures and the workers' CPU microseconds per answered request."""
    before = worker_cpu(base)
    result = wrk(base + "/t/e", seconds, script=LUA)
    return result, (worker_cpu(base) - before) / max(1, result.requests) * 1e6


def stored(url: str) -> tuple[int, int]:
    database = Database(url)
    with database.session() as s:
        readings = s.scalar(select(func.count()).select_from(Event).where(Event.type == "reading"))
        drops = s.scalar(select(func.coalesce(func.sum(DropCount.count), 0)))
    database.engine.dispose()
    return int(readings or 0), int(drops or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--ingest-only", action="store_true",
                        help="without intent's rescoring of each written batch (on the writer thread)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    migrate.upgrade(make_engine(url))

    app = create_app({"DATABASE_URL": url, "CONTENT_DIR": str(ROOT / "content"), "SECRET_KEY": "bench"})
    with app.app_context():
        page_tokens = [tokens.view_token(d) for d in app.extensions["cabos.content"].library.articles.values()]
    signer = Signer("bench", salt="cabos.visitor")
    cookies = tmp / "cookies.txt"
    cookies.write_text("\n".join(signer.sign(secrets.token_hex(16)).decode() for _ in range(args.visitors)))
    env = {"BENCH_DATABASE_URL": url, "BENCH_TOKENS": ",".join(page_tokens), "BENCH_COOKIES": str(cookies)}
    if args.ingest_only:
        env["BENCH_INGEST_ONLY"] = "1"

    print(f"machine: {machine()}; gunicorn 2 sync workers; wrk 2 threads, 8 connections, {args.seconds}s; "
          f"{len(page_tokens)} articles, {args.visitors:,} visitors"
          f"{'; ingest only (no intent rescoring)' if args.ingest_only else '; with intent rescoring'}")
    print("| server | req/s | p50 ms | p99 ms | errors | worker CPU µs/request |\n|---|---|---|---|---|---|")
    ratios, cpu_ratios, lost_total = [], [], 0
    for _ in range(args.rounds):  # alternate to spread drift over both
        with gunicorn("bench.tracking_apps:bare_app", env) as base:
            os.environ.update(env, BENCH_ORIGIN=base)  # wrk's script reads them
            wrk(base + "/t/e", 2, script=LUA)
            bare, bare_cpu = measured(base, args.seconds)
        before = stored(url)
        with gunicorn("bench.tracking_apps:cabos_app", env) as base:
            os.environ["BENCH_ORIGIN"] = base
            warm = wrk(base + "/t/e", 2, script=LUA)
            ours, ours_cpu = measured(base, args.seconds)
        # The server has stopped gracefully: whatever it answered must be stored by now.
        after = stored(url)
        readings, drops = after[0] - before[0], after[1] - before[1]
        answered = warm.requests + ours.requests
        lost = max(0, answered - readings - drops)
        lost_total += lost
        print(row("bare Flask (parse JSON, 204)", bare) + f" {bare_cpu:,.0f} |")
        print(row("cabos beacon (pipeline + buffered store)", ours) + f" {ours_cpu:,.0f} |")
        print(f"|  answered {answered:,}; stored {readings:,} readings, {drops:,} drops; lost {lost} | | | | | |")
        ratios.append(ours.requests_per_s / bare.requests_per_s)
        cpu_ratios.append(bare_cpu / ours_cpu)
    print(f"throughput ratio cabos/bare: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f} (goal >= 0.6)")
    print(f"CPU cost ratio bare/cabos per request: {', '.join(f'{r:.2f}' for r in cpu_ratios)}; "
          f"median {statistics.median(cpu_ratios):.2f}")
    print(f"accepted beacons lost after graceful shutdown: {lost_total}")


if __name__ == "__main__":
    main()
