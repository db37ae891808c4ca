"""The contact page of a contact with 10,000 events in a 5,000,000-event database, and the salesperson's
Today page with 300 contacts of their own, SQLite and PostgreSQL.

Generates the events in bulk (executemany on SQLite with the events indexes built afterwards,
``generate_series`` on PostgreSQL; deterministic), scores the one contact through the intent
store, hands them to a salesperson, then times GET /staff/contacts/<id> (first page of the
trail, the brief, the chart), an older trail page, the page of a contact with ~50 events, the
queue and Today with the Flask test client (server time: no network). Goal: p50 ≤ 50 ms. SQLite
lives in /tmp, without ANALYZE statistics (as cabos leaves a database); PostgreSQL in a database
``cabos_bench_sales`` created and dropped here (analyzed, as autovacuum would).

    .venv/bin/python bench/sales_contact_page.py                       # both backends, full size
    .venv/bin/python bench/sales_contact_page.py --backend sqlite --events 500000
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from cabos import migrate  # noqa: E402
from cabos.content.loader import load_library  # noqa: E402
from cabos.db import make_engine  # noqa: E402

PG_ADMIN = "postgresql+psycopg:///postgres?host=/var/run/postgresql"
PG_URL = "postgresql+psycopg:///cabos_bench_sales?host=/var/run/postgresql"
EVENT_INDEXES = ("ix_events_contact_time", "ix_events_visitor_time", "ix_events_content_time", "ix_events_type_time")
NOW = datetime.now(UTC).replace(microsecond=0)


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def docs() -> list[tuple[str, str, str | None, str]]:
    lib = load_library(ROOT / "content")
    return [(d.kind, d.slug, d.stage, "[" + ",".join(f'"{p}"' for p in d.problems) + "]")
            for d in [*lib.articles.values(), *lib.guides.values()]]


def rows(total: int, contacts: int, target: int, target_events: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """(id, type, occurred_at, visitor, contact, kind, slug, stage, problems, engaged, scroll, end) for every event."""
    rng = random.Random(seed)
    content = docs()
    others = total - target_events
    for i in range(1, total + 1):
        if i <= target_events:
            contact = target
            at = NOW - timedelta(minutes=(target_events - i) * 7)  # ~ten weeks of a heavy reader
        else:
            contact = rng.randrange(1, contacts + 1)
            at = NOW - timedelta(seconds=rng.randrange(0, 365 * 86400))
        kind, slug, stage, problems = content[rng.randrange(len(content))]
        typ = "download" if kind == "guide" else "reading"
        visitor = f"{contact:032x}"
        yield (i, typ, _ts(at), visitor, contact, kind, slug, stage, problems, rng.randrange(0, 400_000),
               rng.randrange(0, 101), 0, "{}")
    del others


def build_sqlite(path: Path, total: int, contacts: int, target_events: int) -> str:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    created = _ts(NOW - timedelta(days=400))
    con.executemany("INSERT INTO contacts (id, email, name, company, role, company_size, country, custom, consent_text,"
                    " first_touch, latest_touch, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    ((c, f"c{c}@example.com", f"Contact {c}", "Co", "Directora de operaciones", "50-249", "España",
                      "{}", "", "{}", "{}", created, created) for c in range(1, contacts + 1)))
    con.executemany("INSERT INTO visitors (id, contact_id, created_at, last_seen_at, first_touch, latest_touch)"
                    " VALUES (?,?,?,?,?,?)",
                    ((f"{c:032x}", c, created, created, "{}", "{}") for c in range(1, contacts + 1)))
    for name in EVENT_INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {name}")
    con.executemany("INSERT INTO events (id, type, occurred_at, visitor_id, contact_id, content_kind, content_slug,"
                    " stage, problems, engaged_ms, scroll_pct, read_to_end, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows(total, contacts, 1, target_events))
    con.commit()
    con.execute("CREATE INDEX ix_events_contact_time ON events (contact_id, occurred_at)")
    con.execute("CREATE INDEX ix_events_visitor_time ON events (visitor_id, occurred_at)")
    con.execute("CREATE INDEX ix_events_content_time ON events (content_slug, occurred_at)")
    con.execute("CREATE INDEX ix_events_type_time ON events (type, occurred_at)")
    # No ANALYZE: cabos never runs it, so a real SQLite file has no statistics and the planner goes by
    # its rules alone (with statistics, a plan that reads every download of everyone hid here).
    con.execute("DROP TABLE IF EXISTS sqlite_stat1")
    con.commit()
    con.close()
    return url


def build_postgres(total: int, contacts: int, target_events: int) -> str:
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_sales"))
        conn.execute(text("CREATE DATABASE cabos_bench_sales"))
    admin.dispose()
    engine = make_engine(PG_URL)
    migrate.upgrade(engine)
    content = docs()
    kinds = "ARRAY[" + ",".join(f"'{k}'" for k, *_ in content) + "]"
    slugs = "ARRAY[" + ",".join(f"'{s}'" for _k, s, *_ in content) + "]"
    stages = "ARRAY[" + ",".join(f"'{st or ''}'" for _k, _s, st, _p in content) + "]"
    problems = "ARRAY[" + ",".join(f"'{p}'" for *_x, p in content) + "]"
    n = len(content)
    with engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO contacts (id, email, name, company, role, company_size, country, custom, consent_text,
                                  first_touch, latest_touch, created_at, updated_at)
            SELECT c, 'c' || c || '@example.com', 'Contact ' || c, 'Co', 'Directora de operaciones', '50-249',
                   'España', '{{}}', '', '{{}}', '{{}}', now() - interval '400 days', now() - interval '400 days'
            FROM generate_series(1, {contacts}) c"""))
        conn.execute(text(f"""
            INSERT INTO visitors (id, contact_id, created_at, last_seen_at, first_touch, latest_touch)
            SELECT lpad(to_hex(c), 32, '0'), c, now(), now(), '{{}}', '{{}}' FROM generate_series(1, {contacts}) c"""))
        for name in EVENT_INDEXES:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        conn.execute(text("SELECT setseed(0.7)"))
        conn.execute(text(f"""
            INSERT INTO events (id, type, occurred_at, visitor_id, contact_id, content_kind, content_slug, stage,
                                problems, engaged_ms, scroll_pct, read_to_end, data)
            SELECT i, CASE WHEN ({kinds})[k] = 'guide' THEN 'download' ELSE 'reading' END,
                   CASE WHEN i <= {target_events} THEN (now() - (({target_events} - i) * interval '7 minutes'))
                        ELSE now() - random() * interval '365 days' END,
                   lpad(to_hex(c), 32, '0'), c, ({kinds})[k], ({slugs})[k], NULLIF(({stages})[k], ''),
                   (({problems})[k])::json, (random() * 400000)::int, (random() * 100)::int, false, '{{}}'
            FROM (SELECT i, 1 + (random() * {n - 1})::int AS k,
                         CASE WHEN i <= {target_events} THEN 1 ELSE 1 + (random() * ({contacts} - 1))::int END AS c
                  FROM generate_series(1, {total}) i) g"""))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))"))
        conn.execute(text("CREATE INDEX ix_events_contact_time ON events (contact_id, occurred_at)"))
        conn.execute(text("CREATE INDEX ix_events_visitor_time ON events (visitor_id, occurred_at)"))
        conn.execute(text("CREATE INDEX ix_events_content_time ON events (content_slug, occurred_at)"))
        conn.execute(text("CREATE INDEX ix_events_type_time ON events (type, occurred_at)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return PG_URL


def drop_postgres() -> None:
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_sales"))
    admin.dispose()


def measure(url: str, runs: int) -> dict[str, float]:
    from cabos.db import session_scope
    from cabos.intent import update_contact
    from cabos.sales.handoffs import create_handoff
    from cabos.site import create_app
    from cabos.staff.models import StaffUser
    from cabos.contacts.models import Contact
    from cabos.sales.models import Activity, Handoff

    instance = Path(tempfile.mkdtemp(prefix="cabos-bench-"))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(ROOT / "content"),
                      "MAIL_FOLDER": str(instance / "mail"), "SITE_URL": "http://localhost"})
    with app.test_request_context("/"), session_scope(app) as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "bench@staff.example"))
        if user is None:
            user = StaffUser(email="bench@staff.example", name="Bench", role="sales", password_hash="x")
            s.add(user)
            s.flush()
            update_contact(s, 1, NOW)
            create_handoff(s, s.get(Contact, 1), {"bench": True}, NOW)
            # A salesperson's book: 300 handoffs (new, overdue, accepted), 100 next steps due up to today.
            for c in range(2, 302):
                created = NOW - timedelta(hours=c)
                s.add(Handoff(contact_id=c, open_contact_id=c, assigned_to=user.id, created_at=created,
                              due_at=created + timedelta(hours=24), status="accepted" if c % 3 == 0 else "new",
                              first_response_at=created + timedelta(hours=1) if c % 3 == 0 else None, score=20.0))
            for c in range(2, 102):
                s.add(Activity(contact_id=c, staff_user_id=user.id, kind="call", body="Spoke", next_step="Call back",
                               due_on=(NOW - timedelta(days=c % 3)).date(), occurred_at=NOW - timedelta(days=3)))
        user_id = f"{user.id}:{user.session_version}"
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"], sess["_staff_at"] = user_id, True, time.time()
    first = client.get("/staff/contacts/1")
    assert first.status_code == 200, first.status_code
    body = first.get_data(as_text=True)
    cursor = body.split("before=")[1].split("#")[0].split('"')[0] if "before=" in body else None
    results: dict[str, float] = {}
    for name, path in (("contact page", "/staff/contacts/1"),
                       ("older trail page", f"/staff/contacts/1?before={cursor}"),
                       ("light contact page", "/staff/contacts/5"),  # ~50 events, a handful of downloads
                       ("queue", "/staff/queue"), ("today", "/staff/today")):
        times, cpu = [], []
        for _ in range(5):  # warm the caches (database pages, templates, translations) first
            client.get(path)
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200
        times.sort()
        results[f"{name} p50"] = statistics.median(times)
        results[f"{name} p95"] = times[int(len(times) * 0.95) - 1]
        # CPU of this process (Python, and SQLite's own work; not the PostgreSQL server's): on a
        # shared, overloaded machine the wall time above includes waiting for a core.
        results[f"{name} cpu"] = statistics.median(cpu)
    app.extensions["cabos.db"].engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--contact-events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the generated databases (then --reuse them)")
    parser.add_argument("--reuse", action="store_true", help="measure the databases a --keep run left")
    args = parser.parse_args()
    print("| backend | build | contact page p50 | p95 | CPU p50 | older page p50 | a light contact p50 | queue p50 "
          "| today p50 / p95 / CPU | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        start = time.perf_counter()
        kept = Path(tempfile.gettempdir()) / "cabos-bench-sales.sqlite3"
        if backend == "sqlite":
            url = f"sqlite:///{kept}" if args.reuse else build_sqlite(kept, args.events, args.contacts,
                                                                      args.contact_events)
        else:
            url = PG_URL if args.reuse else build_postgres(args.events, args.contacts, args.contact_events)
        built = time.perf_counter() - start
        try:
            r = measure(url, args.runs)
        finally:
            if not args.keep:
                if backend == "postgres":
                    drop_postgres()
                else:
                    kept.unlink(missing_ok=True)
        print(f"| {backend} ({args.events:,} events, {args.contact_events:,} for the contact) | {built:.0f} s | "
              f"{r['contact page p50']:.1f} ms | {r['contact page p95']:.1f} ms | {r['contact page cpu']:.1f} ms | "
              f"{r['older trail page p50']:.1f} ms | {r['light contact page p50']:.1f} ms | "
              f"{r['queue p50']:.1f} ms | {r['today p50']:.1f} / "
              f"{r['today p95']:.1f} / {r['today cpu']:.1f} ms | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
