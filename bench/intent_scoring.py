"""Intent scoring: incremental update per new reading, and full recompute of every contact.

    .venv/bin/python bench/intent_scoring.py [--contacts 100000] [--readings 50] [--backend sqlite|postgresql|both]

Generates a synthetic trail over the demo content (each contact works on one
or two problems, reads learn → compare → decide with realistic engaged times,
sometimes visits pricing or downloads a guide, over the last 180 days), bulk
inserted (executemany; COPY for PostgreSQL events). SQLite: a file in /tmp. PostgreSQL: a database
``cabos_bench`` created for the run on the local server and dropped afterwards.

Measures, with the demo intent.yml:
* ``update_contact`` after one new reading (µs; one contact's trail re-read, state and history written);
* ``current_state`` (decay on read, µs) and pure ``assess`` of one 50-reading trail (µs);
* full recompute of every contact (first scoring: inserts; ``--rules-change`` also times a second
  recompute under changed rules: updates). The default run takes about 10 minutes on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import machine  # noqa: E402
from cabos import migrate  # noqa: E402
from cabos.content.loader import load_library  # noqa: E402
from cabos.db import make_engine  # noqa: E402
from cabos.intent.rules import rules_of  # noqa: E402
from cabos.intent.rulesfile import RulesExtension  # noqa: E402
from cabos.intent.scoring import assess  # noqa: E402
from cabos.intent.bulk import recompute  # noqa: E402
from cabos.intent.store import contact_readings, current_state, update_contact  # noqa: E402
from cabos.tracking.models import Event  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
PG_SERVER = "postgresql+psycopg:///{db}?host=/var/run/postgresql"
ROLES = ["Jefe de almacén", "Director de operaciones", "Head of Operations", "Gerente", "Responsable de compras",
         "Estudiante", "Técnico de sistemas", "CEO", "Administrativo"]
SIZES = ["1-9", "10-49", "50-249", "250-999", "1000+"]
COUNTRIES = ["España", "México", "Colombia", "Chile", "Francia", "Argentina"]


def content():
    library = load_library(ROOT / "content", [RulesExtension()])
    return library, rules_of(library)


def generate(engine: Engine, contacts: int, per_contact: int, library, seed: int = 7) -> int:
    """Bulk-insert contacts and their readings; returns the number of events."""
    rnd = random.Random(seed)
    articles = list(library.articles.values())
    by_problem = {p: [a for a in articles if p in a.problems] for p in library.problems}
    guides = list(library.guides.values())
    is_pg = engine.dialect.name == "postgresql"

    def ts(dt: datetime) -> object:
        naive = dt.astimezone(UTC).replace(tzinfo=None)
        return naive if is_pg else naive.isoformat(sep=" ")

    created = ts(NOW - timedelta(days=200))
    contact_sql = ("INSERT INTO contacts (id, email, name, company, role, company_size, country, custom, "
                   "first_touch, latest_touch, consent_text, created_at, updated_at) VALUES "
                   + ("(%s, %s, '', '', %s, %s, %s, %s, '{}', '{}', '', %s, %s)" if is_pg else
                      "(?, ?, '', '', ?, ?, ?, ?, '{}', '{}', '', ?, ?)"))
    event_sql = ("INSERT INTO events (type, occurred_at, contact_id, content_kind, content_slug, stage, problems, "
                 "engaged_ms, scroll_pct, read_to_end, data) VALUES "
                 + ("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '{}')" if is_pg else
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')"))
    def flush(raw, people: list, events: list) -> int:
        cur = raw.cursor()
        cur.executemany(contact_sql, people)
        if not is_pg:
            cur.executemany(event_sql, events)
        else:
            # PostgreSQL: COPY, because executemany there is ~5× slower than SQLite's and the
            # run must stay short; the rows are the same.
            with cur.copy("COPY events (type, occurred_at, contact_id, content_kind, content_slug, stage, "
                          "problems, engaged_ms, scroll_pct, read_to_end, data) FROM STDIN") as copy:
                for row in events:
                    copy.write_row((*row, "{}"))
        raw.commit()  # one transaction per chunk: a 5M-row transaction bloats SQLite's WAL
        return len(events)

    tags = {d.slug: json.dumps(list(d.problems)) for d in [*articles, *guides]}
    indexes = list(Event.__table__.indexes)
    with engine.begin() as conn:  # bulk load: build the secondary indexes once, at the end
        for index in indexes:
            index.drop(conn)
    total = 0
    raw = engine.raw_connection()
    try:
        if not is_pg:
            raw.cursor().execute("PRAGMA cache_size=-262144")
        people, events = [], []
        for cid in range(1, contacts + 1):
            sector = rnd.choice(["Distribución", "E-commerce", "Fabricación", "Otro"])
            people.append((cid, f"c{cid}@empresa{cid % 977}.es", rnd.choice(ROLES), rnd.choice(SIZES),
                           rnd.choice(COUNTRIES), json.dumps({"sector": sector}), created, created))
            focus = rnd.sample(list(by_problem), k=rnd.choice([1, 1, 2]))
            start = rnd.uniform(5, 180)
            for i in range(per_contact):
                age = start * (1 - i / per_contact) + rnd.uniform(0, 2)
                when = ts(NOW - timedelta(days=age))
                roll = rnd.random()
                if roll < 0.04:
                    events.append(("reading", when, cid, "page", "precios", None, "[]", rnd.randint(5_000, 90_000),
                                   60, False))
                elif roll < 0.06:
                    g = rnd.choice(guides)
                    events.append(("download", when, cid, "guide", g.slug, g.stage, tags[g.slug], 0, 0, False))
                else:
                    pool = by_problem[rnd.choice(focus)] if rnd.random() < 0.85 else articles
                    a = rnd.choice(pool)
                    engaged = int(rnd.lognormvariate(10.8, 1.1))  # median ~50 s, long tail
                    events.append(("reading", when, cid, "article", a.slug, a.stage, tags[a.slug], engaged,
                                   min(100, engaged // 2000), engaged > 120_000))
            if len(events) >= 250_000:
                total += flush(raw, people, events)
                people, events = [], []
        total += flush(raw, people, events)
        if is_pg:
            raw.cursor().execute("SELECT setval('contacts_id_seq', (SELECT max(id) FROM contacts))")
            raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    if is_pg:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return total


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run(url: str, contacts: int, per_contact: int, library, rules, rules_change: bool) -> dict[str, object]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    out: dict[str, object] = {"backend": engine.dialect.name}

    t = time.perf_counter()
    out["events"] = generate(engine, contacts, per_contact, library)
    out["generate_s"] = time.perf_counter() - t
    print(f"  generated {out['events']:,} events in {out['generate_s']:.0f} s", flush=True)

    def full(label: str, r) -> None:
        t0 = time.perf_counter()
        with sessions() as s:
            for progress in recompute(s, r, NOW, batch_size=2000):
                s.commit()
        out[label] = time.perf_counter() - t0
        out[label + "_changes"] = progress.changes
        print(f"  {label}: {out[label]:.1f} s ({progress.contacts:,} contacts, {progress.changes:,} changes)",
              flush=True)

    full("first_scoring_s", rules)
    if rules_change:
        full("recompute_after_rules_change_s", replace(rules, threshold=rules.threshold - 4, version="bench"))

    rnd = random.Random(11)
    sample = rnd.sample(range(1, contacts + 1), min(1000, contacts))
    article = library.articles["caso-electrolevante-exactitud-inventario"]
    update_us, state_us, assess_us = [], [], []
    later = NOW + timedelta(minutes=5)
    with sessions() as s:
        for n, cid in enumerate(sample):
            s.add(Event(type="reading", occurred_at=later, contact_id=cid, content_kind="article",
                        content_slug=article.slug, stage=article.stage, problems=list(article.problems),
                        engaged_ms=180_000, scroll_pct=100, read_to_end=True))
            s.flush()
            t0 = time.perf_counter_ns()
            update_contact(s, cid, later, rules)
            update_us.append((time.perf_counter_ns() - t0) / 1000)
            t0 = time.perf_counter_ns()
            current_state(s, cid, later + timedelta(days=3), rules)
            state_us.append((time.perf_counter_ns() - t0) / 1000)
            if n % 100 == 99:
                s.commit()
        s.commit()
        trails = [contact_readings(s, cid) for cid in sample[:200]]
    for trail in trails:
        t0 = time.perf_counter_ns()
        assess(trail, {"role": "Jefe de almacén", "company_size": "50-249"}, rules, later)
        assess_us.append((time.perf_counter_ns() - t0) / 1000)
    for name, values in (("update_contact_us", update_us), ("current_state_us", state_us),
                         ("assess_us", assess_us)):
        out[name] = (statistics.median(values), pct(values, 0.99))
        print(f"  {name}: p50 {out[name][0]:,.0f} µs, p99 {out[name][1]:,.0f} µs", flush=True)
    out["mean_trail"] = statistics.mean(len(t) for t in trails)
    if engine.dialect.name == "sqlite":
        out["db_mb"] = Path(engine.url.database).stat().st_size / 1e6
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=50, help="events per contact")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rules-change", action="store_true",
                        help="also time a second full recompute under changed rules (updates instead of inserts)")
    args = parser.parse_args()
    library, rules = content()
    print(f"intent bench: {args.contacts:,} contacts × {args.readings} events; {machine()}", flush=True)
    results = []
    if args.backend in ("sqlite", "both"):
        path = Path("/tmp/cabos-intent-bench.sqlite3")
        for p in (path, path.with_suffix(".sqlite3-wal"), path.with_suffix(".sqlite3-shm")):
            p.unlink(missing_ok=True)
        print("SQLite", flush=True)
        results.append(run(f"sqlite:///{path}", args.contacts, args.readings, library, rules, args.rules_change))
        path.unlink(missing_ok=True)
    if args.backend in ("postgresql", "both"):
        subprocess.run(["dropdb", "--if-exists", "-h", "/var/run/postgresql", "cabos_bench"], check=True)
        subprocess.run(["createdb", "-h", "/var/run/postgresql", "cabos_bench"], check=True)
        try:
            print("PostgreSQL", flush=True)
            results.append(run(PG_SERVER.format(db="cabos_bench"), args.contacts, args.readings, library, rules,
                               args.rules_change))
        finally:
            subprocess.run(["dropdb", "--if-exists", "-h", "/var/run/postgresql", "cabos_bench"], check=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (2 cores: above 2 the figures are inflated)\n")
    print("| backend | contacts / events | update_contact per reading, p50 / p99 | current_state p50 | "
          "assess (pure, one trail) p50 | full recompute | after a rules change |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        again = f"{r['recompute_after_rules_change_s']:.0f} s" if "recompute_after_rules_change_s" in r else "—"
        print(f"| {r['backend']} | {args.contacts:,} / {r['events']:,} | {r['update_contact_us'][0]:,.0f} / "
              f"{r['update_contact_us'][1]:,.0f} µs | {r['current_state_us'][0]:,.0f} µs | {r['assess_us'][0]:,.0f} µs"
              f" | {r['first_scoring_s']:.0f} s | {again} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
