"""Article page throughput: cabos vs a bare Flask endpoint of the same size.

    .venv/bin/python bench/article_throughput.py [--seconds 10]

Both run under gunicorn with 2 sync workers (with gthread, wrk's long-lived
connections split unevenly between workers and the figure swings by half from
run to run), loaded by wrk on loopback, in the same run. Goal: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import urllib.request
from pathlib import Path

from _harness import gunicorn, machine, row, wrk

from cabos import migrate
from cabos.db import make_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    migrate.upgrade(make_engine(url))
    path = os.environ.get("BENCH_ARTICLE_PATH", "/articulos/por-que-no-cuadra-el-inventario")
    env = {"BENCH_DATABASE_URL": url, "BENCH_ARTICLE_PATH": path}
    with gunicorn("bench.article_apps:cabos_app", env) as base:
        size = len(urllib.request.urlopen(base + path).read())
    env["BENCH_BODY_SIZE"] = str(size)
    print(f"machine: {machine()}; article {path}: {size:,} bytes; wrk 2 threads, 8 connections, {args.seconds}s")
    print("| server | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|")
    ratios = []
    for _ in range(args.rounds):  # alternate to spread drift over both
        with gunicorn("bench.article_apps:bare_app", env) as base:
            wrk(base + path, 2)
            bare = wrk(base + path, args.seconds)
        with gunicorn("bench.article_apps:cabos_app", env) as base:
            wrk(base + path, 2)
            ours = wrk(base + path, args.seconds)
        print(row("bare Flask (same size)", bare))
        print(row("cabos article page", ours))
        ratios.append(ours.requests_per_s / bare.requests_per_s)
    print(f"ratio cabos/bare: {', '.join(f'{r:.2f}' for r in ratios)} (goal >= 0.7)")


if __name__ == "__main__":
    main()
