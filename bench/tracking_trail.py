"""The trail of one contact, newest first, in a table of 5,000,000 events: SQLite and PostgreSQL.

    .venv/bin/python bench/tracking_trail.py                       # both backends, full size
    .venv/bin/python bench/tracking_trail.py --backend sqlite --events 500000

Generates the events in bulk (executemany on SQLite, COPY on PostgreSQL; deterministic,
secondary indexes built after the load, as a restore would), one contact holding 10,000
of them across three devices. Then times, through SQLAlchemy, exactly what the app runs:
``tracking.trail.trail`` (first page of 50, newest first), walking the whole trail in pages
of 500, and one article's readings over 30 days (``readings_of``). Goal: the first page
p50 <= 20 ms. SQLite lives in a temporary folder; PostgreSQL in a database
``cabos_bench_trail``; both are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from cabos import migrate  # noqa: E402
from cabos.content.loader import load_library  # noqa: E402
from cabos.db import Database, make_engine  # noqa: E402
from cabos.tracking.trail import readings_of, trail  # noqa: E402

PG_ADMIN = "postgresql+psycopg:///postgres?host=/var/run/postgresql"
PG_URL = "postgresql+psycopg:///cabos_bench_trail?host=/var/run/postgresql"
END = datetime(2026, 11, 1, tzinfo=UTC)
TARGET, TARGET_EVENTS = 1, 10_000
CONTACTS, VISITORS = 20_000, 100_000
COLUMNS = ("type", "occurred_at", "visitor_id", "contact_id", "view_id", "content_kind", "content_slug", "stage",
           "problems", "engaged_ms", "scroll_pct", "read_to_end", "data")
INDEXES = {  # built after the load (same definitions as the migration)
    "ix_events_contact_time": "(contact_id, occurred_at)",
    "ix_events_visitor_time": "(visitor_id, occurred_at)",
    "ix_events_content_time": "(content_slug, occurred_at)",
    "ix_events_type_time": "(type, occurred_at)",
}


def visitor_id(n: int) -> str:
    return f"{n:032x}"


def visitor_contact(n: int) -> int | None:
    """Visitors 0-2 are the target's devices; a quarter of the rest identified."""
    if n < 3:
        return TARGET
    return 2 + n % (CONTACTS - 1) if n < VISITORS // 4 else None


def events(total: int, sqlite_times: bool) -> Iterator[tuple]:
    """``total`` events over the last year; TARGET_EVENTS of them on the target contact's devices."""
    rng = random.Random(1)
    docs = [(d.kind, d.slug, d.stage, json.dumps(list(d.problems)))
            for d in load_library(ROOT / "content").articles.values()]
    start = END - timedelta(days=365)
    every = max(1, total // TARGET_EVENTS)
    for i in range(total):
        n = rng.randrange(3) if i % every == 0 and i // every < TARGET_EVENTS else 3 + rng.randrange(VISITORS - 3)
        at = start + timedelta(seconds=rng.random() * 365 * 86400)
        kind, slug, stage, problems = docs[rng.randrange(len(docs))]
        reading = rng.random() < 0.9
        engaged = int(rng.expovariate(1 / 60_000)) if reading else 0
        yield ("reading" if reading else "form_submit",
               at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite_times else at,
               visitor_id(n), visitor_contact(n), f"{i:064x}" if reading else None, kind, slug, stage, problems,
               engaged, rng.randrange(101) if reading else 0, engaged > 120_000, "{}")


def chunks(rows: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def people(sqlite_times: bool) -> tuple[list[tuple], list[tuple]]:
    at = END.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite_times else END
    contacts = [(c, f"c{c}@example.com", "", "", "", "", "", "{}", "", "{}", "{}", at, at)
                for c in range(1, CONTACTS + 1)]
    visitors = [(visitor_id(n), visitor_contact(n), at, at, "{}", "{}") for n in range(VISITORS)]
    return contacts, visitors


CONTACT_COLUMNS = ("id, email, name, company, role, company_size, country, custom, consent_text, first_touch, "
                   "latest_touch, created_at, updated_at")
VISITOR_COLUMNS = "id, contact_id, created_at, last_seen_at, first_touch, latest_touch"


def load_sqlite(path: Path, total: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    for name in INDEXES:
        con.execute(f"DROP INDEX {name}")
    contacts, visitors = people(sqlite_times=True)
    con.executemany(f"INSERT INTO contacts ({CONTACT_COLUMNS}) VALUES ({', '.join('?' * 13)})", contacts)
    con.executemany(f"INSERT INTO visitors ({VISITOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", visitors)
    insert = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    for chunk in chunks(events(total, sqlite_times=True)):
        con.executemany(insert, chunk)
    con.commit()
    for name, columns in INDEXES.items():
        con.execute(f"CREATE INDEX {name} ON events {columns}")
    con.execute("ANALYZE")
    con.commit()
    con.close()


def load_postgres(total: int) -> None:
    engine = make_engine(PG_URL)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for name in INDEXES:
            cur.execute(f"DROP INDEX {name}")
        cur.execute("ALTER TABLE events DROP CONSTRAINT fk_events_visitor_id_visitors, "
                    "DROP CONSTRAINT fk_events_contact_id_contacts")
        contacts, visitors = people(sqlite_times=False)
        for table, columns, rows in [("contacts", CONTACT_COLUMNS, contacts), ("visitors", VISITOR_COLUMNS, visitors),
                                     ("events", ", ".join(COLUMNS), events(total, sqlite_times=False))]:
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        for name, columns in INDEXES.items():
            cur.execute(f"CREATE INDEX {name} ON events {columns}")
        cur.execute("ALTER TABLE events ADD CONSTRAINT fk_events_visitor_id_visitors FOREIGN KEY (visitor_id) "
                    "REFERENCES visitors (id) ON DELETE CASCADE, ADD CONSTRAINT fk_events_contact_id_contacts "
                    "FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE")
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm the cache: we measure a serving database, not a cold disk
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def measure(url: str, runs: int) -> dict[str, float]:
    database = Database(url)
    slug = load_library(ROOT / "content").articles
    article = next(iter(slug))
    since = END - timedelta(days=30)

    def first_page() -> None:
        with database.sessions() as s:
            assert len(trail(s, TARGET, limit=50)) == 50

    def whole_trail() -> None:
        with database.sessions() as s:
            seen, before = 0, None
            while page := trail(s, TARGET, limit=500, before=before):
                seen += len(page)
                before = (page[-1].occurred_at, page[-1].id)
            assert seen == TARGET_EVENTS, seen

    def article_month() -> None:
        with database.sessions() as s:
            readings_of(s, article, since, END, limit=1000)

    out = {"trail, first page of 50": timed(first_page, runs),
           "trail, all 10,000 in pages of 500": timed(whole_trail, max(5, runs // 20)),
           "one article's readings, 30 days (≤1,000)": timed(article_month, max(10, runs // 4))}
    with database.sessions() as s:
        out["events in the table"] = s.scalar(text("SELECT count(*) FROM events"))
    database.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trail.sqlite3"
            url = f"sqlite:///{path}"
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            t = time.perf_counter()
            load_sqlite(path, args.events)
            print(f"sqlite: generated and loaded {args.events:,} events in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
            results["SQLite"] = measure(url, args.runs)
    if args.backend in ("postgresql", "both"):
        admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_trail"))
            conn.execute(text("CREATE DATABASE cabos_bench_trail"))
        try:
            engine = make_engine(PG_URL)
            migrate.upgrade(engine)
            engine.dispose()
            t = time.perf_counter()
            load_postgres(args.events)
            print(f"postgresql: generated and loaded {args.events:,} events in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
            results["PostgreSQL"] = measure(PG_URL, args.runs)
        finally:
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_trail"))
            admin.dispose()
    names = list(next(iter(results.values())))
    print(f"| p50 ms ({args.runs} runs) | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        cells = [f"{r[name]:,.0f}" if name == "events in the table" else f"{r[name]:.2f}" for r in results.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("goal: trail first page p50 <= 20 ms")


if __name__ == "__main__":
    main()
