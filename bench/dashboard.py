"""The dashboard on a year of history: 100,000 contacts and 5,000,000 events, SQLite and PostgreSQL.

Generates the history in bulk (executemany on SQLite, COPY on PostgreSQL; deterministic),
runs ``cabos dashboard refresh --full``, then times the whole dashboard request (the
Flask test client, signed in as staff) for the last 365 and 90 days, and an incremental
refresh. Goal: the page in ≤ 1 s. SQLite lives in /tmp; PostgreSQL in a database
``cabos_bench_dash`` created and dropped here.

    .venv/bin/python bench/dashboard.py                      # both backends, full size
    .venv/bin/python bench/dashboard.py --backend sqlite --contacts 10000 --events 500000
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
from cabos.db import make_engine  # noqa: E402

PG_ADMIN = "postgresql+psycopg:///postgres?host=/var/run/postgresql"
PG_URL = "postgresql+psycopg:///cabos_bench_dash?host=/var/run/postgresql"
KEPT = os.path.join(tempfile.gettempdir(), "cabos-bench-dash.sqlite3")
SOURCES = ("google", "linkedin", "newsletter", "direct", "partner", "bing")
REASONS = ("not ready", "no budget", "wrong person", "too small", "already has a WMS")
SEQUENCES = ("bienvenida-inventario", "bienvenida-errores", "temporada-alta", "del-excel-al-sga")


def _sqlite_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format


class History:
    """A deterministic year: visitors reading, contacts identifying, handoffs and outcomes."""

    def __init__(self, contacts: int, events: int, end: datetime, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.contacts, self.target_events = contacts, events
        self.end = end
        self.start = end - timedelta(days=365)
        lib = load_library(ROOT / "content")
        self.docs = [(d.kind, d.slug, d.stage, list(d.problems)) for d in
                     [*lib.articles.values(), *lib.guides.values(), *lib.pages.values()]]
        self.guides = [d for d in self.docs if d[0] == "guide"]
        self.problems = list(lib.problems)

    def moment(self, after: datetime, days: float) -> datetime:
        return after + timedelta(seconds=self.rng.uniform(0, days * 86400))

    def engaged_ms(self) -> int:
        if self.rng.random() < 0.12:
            return 0
        return int(min(3_600_000, self.rng.lognormvariate(math.log(55_000), 1.0)))

    def generate(self) -> dict[str, list[tuple]]:
        rng = self.rng
        anonymous = self.contacts * 2
        other_events = int(self.contacts * 3.6)  # form, merge, download, emails, mode changes, outcomes
        # Readings past the year's end are dropped: visitors who arrive late lose about a seventh.
        readings_budget = max(0, self.target_events - other_events) * 1.175
        mean_anon = readings_budget * 0.35 / anonymous
        mean_contact = readings_budget * 0.65 / self.contacts
        out: dict[str, list[tuple]] = {k: [] for k in ("visitors", "contacts", "events", "intent_changes",
                                                        "handoffs", "outcomes", "staff")}
        for s in range(8):
            out["staff"].append((s + 1, f"sales{s + 1}@bench.example", f"Sales {s + 1}", "sales"))
        event_id = 0

        def add_event(type_: str, at: datetime, visitor: str | None, contact: int | None, doc: tuple | None = None,
                      engaged: int = 0, end: bool = False, view: str | None = None, data: dict | None = None) -> None:
            nonlocal event_id
            event_id += 1
            kind, slug, stage, problems = doc if doc else (None, None, None, [])
            out["events"].append((event_id, type_, at, visitor, contact, view, kind, slug, stage, problems,
                                  engaged, 100 if end else rng.randint(10, 95), end, data or {}))

        def readings_for(visitor: str, contact: int | None, mean: float) -> list[datetime]:
            n = max(1, int(rng.expovariate(1 / mean)))
            first = self.moment(self.start, 365)
            times, t = [], first
            while len(times) < n:
                for _ in range(rng.randint(1, 4)):
                    if len(times) >= n:
                        break
                    times.append(t)
                    t += timedelta(minutes=rng.randint(2, 20))
                t += timedelta(days=rng.expovariate(1 / 6))
            times = [x for x in times if x < self.end]
            for x in times:
                engaged = self.engaged_ms()
                add_event("reading", x, visitor, contact, rng.choice(self.docs), engaged,
                          engaged > 200_000 and rng.random() < 0.6, f"{visitor}-{x.timestamp()}")
            return times

        for a in range(anonymous):
            vid = f"a{a:031x}"
            out["visitors"].append((vid, None, self.start, self.start))
            readings_for(vid, None, mean_anon)
        handoff_id = outcome_id = 0
        for c in range(1, self.contacts + 1):
            vid = f"c{c:031x}"
            out["visitors"].append((vid, c, self.start, self.start))
            times = readings_for(vid, c, mean_contact) or [self.moment(self.start, 300)]
            created = times[len(times) // 3] + timedelta(minutes=1)
            if created >= self.end:
                created = self.end - timedelta(hours=1)
            touch = {"source": rng.choice(SOURCES), "at": created.isoformat()}
            out["contacts"].append((c, f"p{c}@bench.example", f"Person {c}", touch, created))
            guide = rng.choice(self.guides)
            add_event("form_submit", created, vid, c, guide, data={"form": "guide"})
            add_event("merge", created, vid, c, data={"via": "form"})
            add_event("download", created + timedelta(minutes=3), None, c, guide)
            for _ in range(2):
                sent = created + timedelta(days=rng.randint(1, 40))
                if sent < self.end:
                    add_event("email_sent", sent, None, c, data={"sequence": rng.choice(SEQUENCES)})
            if rng.random() < 0.4:
                click = created + timedelta(days=rng.randint(1, 40))
                if click < self.end:
                    add_event("email_click", click, None, c, data={"sequence": rng.choice(SEQUENCES)})
            if rng.random() < 0.15:
                entered = created + timedelta(days=rng.expovariate(1 / 20))
                if entered >= self.end:
                    continue
                out["intent_changes"].append((c, entered, "mode", "information", "purchase"))
                add_event("mode_change", entered, None, c, data={"to": "purchase"})
                if rng.random() < 0.35:
                    handed = entered + timedelta(hours=rng.uniform(0.1, 30))
                    if handed >= self.end:
                        continue
                    handoff_id += 1
                    who = rng.randint(1, 8)
                    responded = handed + timedelta(hours=rng.expovariate(1 / 14))
                    out["handoffs"].append((handoff_id, c, who, handed, handed + timedelta(hours=24),
                                            responded if responded < self.end else None, rng.choice(self.problems)))
                    add_event("handoff", handed, None, c)
                    roll = rng.random()
                    decided = responded + timedelta(hours=rng.uniform(0, 48))
                    if decided >= self.end:
                        continue
                    if roll < 0.2:
                        outcome_id += 1
                        out["outcomes"].append((outcome_id, handoff_id, c, who, "sent_back", rng.choice(REASONS),
                                                None, None, decided))
                        continue
                    if roll < 0.3:
                        outcome_id += 1
                        out["outcomes"].append((outcome_id, handoff_id, c, who, "disqualified", rng.choice(REASONS),
                                                None, None, decided))
                        continue
                    outcome_id += 1
                    out["outcomes"].append((outcome_id, handoff_id, c, who, "accepted", "", None, None, decided))
                    closed = decided + timedelta(days=rng.uniform(10, 70))
                    if closed < self.end and rng.random() < 0.6:
                        outcome_id += 1
                        won = rng.random() < 0.55
                        out["outcomes"].append((outcome_id, handoff_id, c, who, "won" if won else "lost",
                                                "" if won else "price", rng.randint(500_000, 8_000_000) if won else None,
                                                "EUR" if won else None, closed))
                        add_event("outcome", closed, None, c, data={"kind": "won" if won else "lost"})
        return out


EVENT_COLUMNS = ("id", "type", "occurred_at", "visitor_id", "contact_id", "view_id", "content_kind", "content_slug",
                 "stage", "problems", "engaged_ms", "scroll_pct", "read_to_end", "data")


def _chunks(rows: list[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def load_sqlite(path: str, h: dict[str, list[tuple]]) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=WAL")
    ts = _sqlite_ts
    con.executemany("INSERT INTO staff_users (id, email, name, role, password_hash, active, session_version, created_at)"
                    " VALUES (?, ?, ?, ?, 'x', 1, 1, ?)", [(*s, ts(datetime.now(UTC))) for s in h["staff"]])
    con.executemany("INSERT INTO contacts (id, email, name, company, role, company_size, country, custom, consent_text,"
                    " first_touch, latest_touch, created_at, updated_at) VALUES (?, ?, ?, '', '', '', '', '{}', '', ?, ?,"
                    " ?, ?)", [(i, e, n, json.dumps(t), json.dumps(t), ts(c), ts(c)) for i, e, n, t, c in h["contacts"]])
    con.executemany("INSERT INTO visitors (id, contact_id, created_at, last_seen_at, first_touch, latest_touch)"
                    " VALUES (?, ?, ?, ?, '{}', '{}')", [(v, c, ts(a), ts(b)) for v, c, a, b in h["visitors"]])
    for chunk in _chunks(h["events"]):
        con.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * 14)})",
                        [(i, t, ts(at), v, c, view, k, s, st, json.dumps(p), e, sp, int(end), json.dumps(d))
                         for i, t, at, v, c, view, k, s, st, p, e, sp, end, d in chunk])
    con.executemany("INSERT INTO intent_changes (contact_id, occurred_at, kind, from_value, to_value, cause, score,"
                    " evidence, recorded_at) VALUES (?, ?, ?, ?, ?, 'activity', 0, '{}', ?)",
                    [(c, ts(at), k, f, t, ts(at)) for c, at, k, f, t in h["intent_changes"]])
    con.executemany("INSERT INTO handoffs (id, contact_id, open_contact_id, assigned_to, created_at, due_at, status,"
                    " reason, evidence, score, first_response_at, outcome_reason, top_problem) VALUES (?, ?, NULL, ?,"
                    " ?, ?, 'accepted', 'purchase_mode', '{}', 0, ?, '', ?)",
                    [(i, c, w, ts(a), ts(d), ts(r) if r else None, p) for i, c, w, a, d, r, p in h["handoffs"]])
    con.executemany("INSERT INTO handoff_outcomes (id, handoff_id, contact_id, staff_user_id, kind, reason, note,"
                    " revenue_cents, currency, occurred_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
                    [(*o[:8], ts(o[8])) for o in h["outcomes"]])
    con.commit()
    con.execute("ANALYZE")
    con.close()


def load_postgres(url: str, h: dict[str, list[tuple]]) -> None:
    import psycopg

    naive = lambda dt: dt.astimezone(UTC).replace(tzinfo=None) if dt else None  # noqa: E731
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as con, con.cursor() as cur:
        def copy(table: str, columns: str, rows: Iterator[tuple]) -> None:
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)

        now = naive(datetime.now(UTC))
        copy("staff_users", "id, email, name, role, password_hash, active, session_version, created_at",
             ((*s, "x", True, 1, now) for s in h["staff"]))
        copy("contacts", "id, email, name, company, role, company_size, country, custom, consent_text, first_touch,"
             " latest_touch, created_at, updated_at",
             ((i, e, n, "", "", "", "", "{}", "", json.dumps(t), json.dumps(t), naive(c), naive(c))
              for i, e, n, t, c in h["contacts"]))
        copy("visitors", "id, contact_id, created_at, last_seen_at, first_touch, latest_touch",
             ((v, c, naive(a), naive(b), "{}", "{}") for v, c, a, b in h["visitors"]))
        copy("events", ", ".join(EVENT_COLUMNS),
             ((i, t, naive(at), v, c, view, k, s, st, json.dumps(p), e, sp, end, json.dumps(d))
              for i, t, at, v, c, view, k, s, st, p, e, sp, end, d in h["events"]))
        copy("intent_changes", "contact_id, occurred_at, kind, from_value, to_value, cause, score, evidence, recorded_at",
             ((c, naive(at), k, f, t, "activity", 0, "{}", naive(at)) for c, at, k, f, t in h["intent_changes"]))
        copy("handoffs", "id, contact_id, assigned_to, created_at, due_at, status, reason, evidence, score,"
             " first_response_at, outcome_reason, top_problem",
             ((i, c, w, naive(a), naive(d), "accepted", "purchase_mode", "{}", 0, naive(r), "", p)
              for i, c, w, a, d, r, p in h["handoffs"]))
        copy("handoff_outcomes", "id, handoff_id, contact_id, staff_user_id, kind, reason, note, revenue_cents,"
             " currency, occurred_at", ((*o[:6], "", o[6], o[7], naive(o[8])) for o in h["outcomes"]))
        for table, column in (("events", "id"), ("contacts", "id"), ("handoffs", "id"), ("handoff_outcomes", "id"),
                              ("staff_users", "id"), ("intent_changes", "id")):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"(SELECT COALESCE(MAX({column}), 1) FROM {table}))")
        con.commit()
        con.autocommit = True
        cur.execute("VACUUM ANALYZE")


def measure(url: str, runs: int) -> dict[str, float]:
    """Refresh the rollup, then time the dashboard request for 365 and 90 days (median of ``runs``)."""
    from cabos.dashboard import rollup
    from cabos.site import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(ROOT / "content"),
                      "TESTING": False})
    db = app.extensions["cabos.db"]
    out: dict[str, float] = {}
    t = time.perf_counter()
    library = app.extensions["cabos.content"].current()
    with db.session() as s:
        rollup.refresh(s, datetime.now(UTC), library, full=True)
    out["refresh --full (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    with db.session() as s:
        rollup.refresh(s, datetime.now(UTC), library, days=3)
    out["refresh, last 3 days (s)"] = time.perf_counter() - t
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = "1:1"
        sess["_fresh"] = True
        sess["_staff_at"] = time.time()
    for label, query in (("page, 365 days (s)", {"range": "365d"}), ("page, 90 days (s)", {"range": "90d"})):
        times, cpu = [], []
        for i in range(runs + 1):
            t, c = time.perf_counter(), time.process_time()
            response = client.get("/staff/dashboard/", query_string=query)
            elapsed, used = time.perf_counter() - t, time.process_time() - c
            assert response.status_code == 200, response.status_code
            if i:  # the first request warms the content library and the connection pool
                times.append(elapsed)
                cpu.append(used)
        out[label] = statistics.median(times)
        out[label.replace("(s)", "worst (s)")] = max(times)
        # CPU of this process alone (with SQLite, the database's work too): what a busy machine cannot inflate.
        out[label.replace("(s)", "CPU (s)")] = statistics.median(cpu)
    db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Keep the databases (SQLite file, cabos_bench_dash).")
    parser.add_argument("--reuse", action="store_true", help="Measure the databases a --keep run left.")
    args = parser.parse_args()
    if args.reuse:
        results = {"SQLite": measure(f"sqlite:///{KEPT}", args.runs)} if args.backend != "postgresql" else {}
        if args.backend != "sqlite":
            results["PostgreSQL"] = measure(PG_URL, args.runs)
        _table(results, "kept databases")
        return
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t = time.perf_counter()
    history = History(args.contacts, args.events, end).generate()
    print(f"generated {len(history['events']):,} events, {len(history['contacts']):,} contacts, "
          f"{len(history['handoffs']):,} handoffs, {sum(1 for o in history['outcomes'] if o[4] == 'won'):,} won "
          f"in {time.perf_counter() - t:.0f} s", flush=True)
    results: dict[str, dict[str, float]] = {}
    if args.backend in ("sqlite", "both"):
        folder = tempfile.mkdtemp(prefix="cabos-bench-dash-")
        path = os.path.join(folder, "bench.sqlite3")
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        t = time.perf_counter()
        load_sqlite(path, history)
        print(f"SQLite loaded in {time.perf_counter() - t:.0f} s", flush=True)
        results["SQLite"] = measure(url, args.runs)
        if args.keep:
            os.replace(path, KEPT)
        else:
            os.remove(path)
    if args.backend in ("postgresql", "both"):
        admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_dash"))
            conn.execute(text("CREATE DATABASE cabos_bench_dash"))
        try:
            engine = make_engine(PG_URL)
            migrate.upgrade(engine)
            engine.dispose()
            t = time.perf_counter()
            load_postgres(PG_URL, history)
            print(f"PostgreSQL loaded in {time.perf_counter() - t:.0f} s", flush=True)
            results["PostgreSQL"] = measure(PG_URL, args.runs)
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text("DROP DATABASE IF EXISTS cabos_bench_dash"))
            admin.dispose()
    _table(results, f"{args.contacts:,} contacts, {len(history['events']):,} events over 365 days")


def _table(results: dict[str, dict[str, float]], what: str) -> None:
    names = list(next(iter(results.values())))
    load = os.getloadavg()[0]
    print(f"\n{what}, {os.cpu_count()} cores, load average {load:.1f} at the end\n")
    print("| | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[name]:.2f}" for r in results.values()) + " |")


if __name__ == "__main__":
    main()
