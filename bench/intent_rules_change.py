"""Speed of a rules change: `cabos intent replay`, `backtest` and `recompute` over everyone, end to end.

    .venv/bin/python bench/intent_rules_change.py [--contacts 100000] [--readings 50]
        [--backend sqlite|postgresql|both] [--workers 1,2] [--keep] [--reuse]

Builds the history of bench/intent_scoring.py (100,000 contacts × 50 events over
the demo content) plus sales' judgement of 2 % of them (a handoff, then an
outcome: accepted, won with revenue, lost, sent back with a reason,
disqualified), then runs the real commands as an operator would, each in its
own process (`cabos intent … --workers N`, app start and content load
included), with a candidate rules file (the demo intent.yml with the purchase
threshold lowered by 4):

* ``replay --rules candidate.yml`` (both rule sets walked for everyone),
* ``backtest --rules candidate.yml`` (both rule sets walked before each outcome, and for everyone else up to now),
* ``recompute`` twice: the first scores everyone (inserts), the second after the
  candidate became intent.yml (updates, the moves recorded).

Reports wall time and the CPU time of the command and its workers, with the
load average before and after each (2 cores: above 2 the wall times include
waiting for other people's work). SQLite: a file in /tmp. PostgreSQL: a database
``cabos_bench_rules`` created for the run and dropped afterwards (``--keep`` keeps
it and the SQLite file, ``--reuse`` measures again on them without rebuilding).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench._harness import machine  # noqa: E402
from intent_scoring import NOW, content, generate  # noqa: E402

from cabos import migrate  # noqa: E402
from cabos.db import make_engine  # noqa: E402

PG = "postgresql+psycopg:///cabos_bench_rules?host=/var/run/postgresql"
SQLITE = Path("/tmp/cabos-bench-rules.sqlite3")
OUTCOMES = [("accepted", None, 0), ("won", None, 1_250_000), ("lost", "price", 0),
            ("sent_back", "not ready", 0), ("sent_back", "no budget", 0), ("disqualified", "competitor", 0),
            ("disqualified", "student", 0)]


def judge(engine, contacts: int, seed: int = 13) -> int:
    """Handoffs and outcomes for 2 % of the contacts, as sales would have recorded them."""
    rnd = random.Random(seed)
    is_pg = engine.dialect.name == "postgresql"
    rows = []
    for cid in range(50, contacts + 1, 50):
        handed = NOW - timedelta(days=rnd.uniform(5, 60))
        kind, reason, revenue = rnd.choice(OUTCOMES)
        data = {"outcome": kind, "reason": reason, **({"revenue_cents": revenue} if revenue else {})}
        for type_, at, payload in (("handoff", handed, {"handoff": cid}),
                                   ("outcome", handed + timedelta(days=rnd.uniform(1, 10)), data)):
            at = at.replace(tzinfo=None)
            rows.append({"type": type_, "at": at if is_pg else at.isoformat(sep=" "), "cid": cid,
                         "data": json.dumps(payload)})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (type, occurred_at, contact_id, problems, engaged_ms, scroll_pct, "
                          "read_to_end, data) VALUES (:type, :at, :cid, '[]', 0, 0, false, :data)"), rows)
    return len(rows) // 2


def candidate_content(workdir: Path) -> tuple[Path, Path]:
    """A copy of content/ whose intent.yml has the threshold lowered by 4, and that file on its own."""
    copy = workdir / "content"
    shutil.copytree(ROOT / "content", copy)
    intent = copy / "intent.yml"
    lines = intent.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip().startswith("threshold:") and not line.startswith(" " * 4):
            value = float(line.split(":", 1)[1].split("#", 1)[0])
            lines[i] = line.replace(line.split(":", 1)[1].split("#", 1)[0].strip(), f"{value - 4:g}", 1)
            break
    else:
        raise SystemExit("no threshold in content/intent.yml")
    intent.write_text("".join(lines), encoding="utf-8")
    candidate = workdir / "candidate.yml"
    candidate.write_text("".join(lines), encoding="utf-8")
    return copy, candidate


def calibration() -> float:
    """Seconds of one fixed pure-Python loop, best of three: how fast this machine's core is right now.

    The 2-core VM's speed moved by a fifth between runs minutes apart (CPU time of the same command
    83-134 s); a figure is comparable with another only next to this one.
    """
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        total = 0
        for i in range(2_000_000):
            total += i * i
        best = min(best, time.process_time() - t)
    return best


def cabos(args: list[str], url: str, content_dir: Path) -> tuple[float, float, float, float, str]:
    """Run `cabos …`: (wall s, CPU s of it and its workers, load before, load after, last lines of output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CABOS_")}  # never the developer's settings
    env.update({"CABOS_DATABASE_URL": url, "CABOS_CONTENT_DIR": str(content_dir), "CABOS_SECRET_KEY": "bench",
                "CABOS_CONFIG": str(ROOT / "no-such-config.toml")})
    before_load = os.getloadavg()[0]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([str(ROOT / ".venv/bin/cabos"), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"cabos {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return wall, cpu, before_load, os.getloadavg()[0], done.stdout


def build(url: str, contacts: int, per_contact: int) -> tuple[int, int]:
    library, _ = content()
    engine = make_engine(url)
    migrate.upgrade(engine)
    events = generate(engine, contacts, per_contact, library)
    judged = judge(engine, contacts)
    engine.dispose()
    return events, judged


def reset_states(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM intent_changes"))
        conn.execute(text("DELETE FROM events WHERE type IN ('mode_change', 'grade_change')"))
        conn.execute(text("DELETE FROM intent_states"))
    engine.dispose()


def warm(url: str) -> None:
    """Read the SQLite file once, so every command finds it in the page cache as a serving database is.

    After reset_states rewrote pages, the first command read part of the file from disk (replay:
    68 s wall for 84 s of CPU on 2 cores; 47 s for 78 s right after). The goal is about the work.
    """
    if url.startswith("sqlite:///"):
        with open(url.removeprefix("sqlite:///"), "rb") as f:
            while f.read(1 << 24):
                pass


def run(url: str, workers: list[int], content_dir: Path, candidate: Path, changed_dir: Path) -> list[dict]:
    results = []
    for n in workers:
        reset_states(url)
        warm(url)
        w = ["--workers", str(n)]
        for label, args, where in (
                ("replay", ["intent", "replay", "--rules", str(candidate), *w], content_dir),
                ("backtest", ["intent", "backtest", "--rules", str(candidate), *w], content_dir),
                ("recompute (first scoring)", ["intent", "recompute", *w], content_dir),
                ("recompute (rules changed)", ["intent", "recompute", *w], changed_dir)):
            calib = calibration()
            wall, cpu, load0, load1, out = cabos(args, url, where)
            tail = [line for line in out.splitlines() if line.strip()][:2]
            print(f"  workers {n}, {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, load {load0:.1f} → {load1:.1f}, "
                  f"calibration {calib * 1000:.0f} ms  | {' / '.join(tail)[:150]}", flush=True)
            results.append({"workers": n, "command": label, "wall": wall, "cpu": cpu, "load": (load0, load1),
                            "calibration": calib})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=50, help="events per contact")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--keep", action="store_true", help="keep the databases for --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure on the databases a --keep run left")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(f"intent rules change: {args.contacts:,} contacts × {args.readings} events; {machine()}", flush=True)
    table = []
    with tempfile.TemporaryDirectory(prefix="cabos-bench-rules-") as tmp:
        changed_dir, candidate = candidate_content(Path(tmp))
        content_dir = ROOT / "content"
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for backend in backends:
            url = f"sqlite:///{SQLITE}" if backend == "sqlite" else PG
            print(backend, flush=True)
            try:
                if not args.reuse:
                    if backend == "sqlite":
                        for p in (SQLITE, SQLITE.with_suffix(".sqlite3-wal"), SQLITE.with_suffix(".sqlite3-shm")):
                            p.unlink(missing_ok=True)
                    else:
                        subprocess.run(["dropdb", "--if-exists", "-h", "/var/run/postgresql", "cabos_bench_rules"],
                                       check=True)
                        subprocess.run(["createdb", "-h", "/var/run/postgresql", "cabos_bench_rules"], check=True)
                    t = time.perf_counter()
                    events, judged = build(url, args.contacts, args.readings)
                    print(f"  built {events:,} events, {judged:,} judged contacts in {time.perf_counter() - t:.0f} s",
                          flush=True)
                table += [{"backend": backend, **r} for r in run(url, workers, content_dir, candidate, changed_dir)]
            finally:
                if not args.keep:
                    if backend == "sqlite":
                        SQLITE.unlink(missing_ok=True)
                    else:
                        subprocess.run(["dropdb", "--if-exists", "-h", "/var/run/postgresql", "cabos_bench_rules"],
                                       check=True)
    print("\n| backend | command | workers | wall | CPU (all processes) | load average before → after | calibration |")
    print("|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['backend']} | {r['command']} | {r['workers']} | {r['wall']:.0f} s | {r['cpu']:.0f} s | "
              f"{r['load'][0]:.1f} → {r['load'][1]:.1f} | {r['calibration'] * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
