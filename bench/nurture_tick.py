"""One nurture tick with 100,000 enrolled contacts of whom 10,000 are due.

    .venv/bin/python bench/nurture_tick.py [--contacts 100000] [--due 10000] [--database-url URL]

Builds a database (SQLite file by default; PostgreSQL with --database-url, which
is emptied first) with N contacts, each enrolled in one of the demo welcome
sequences and with an intent state, ``--due`` of them due now and the rest due
over the next week. Then it times one tick without delivery (recover stuck
sends, read new events, decide every due step and write its outbox row in the
same transaction as the enrolment's move) and, for comparison, a tick when
nothing is due and one with a tenth as many due: the cost should follow what is
due, not how many are enrolled.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from cabos import db as cabos_db
from cabos import migrate
from cabos.contacts.models import Contact
from cabos.intent.models import IntentState
from cabos.intent.rules import rules_of
from cabos.intent.scoring import Reading, assess, evidence_json
from cabos.nurture.models import Enrolment, OutboxMessage
from cabos.nurture.sequences import nurture_of
from cabos.nurture.tick import run_tick
from cabos.site import create_app

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 5000


def build(url: str, contacts: int, due: int):  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(ROOT / "content"),
                      "SITE_URL": "https://www.estiba.example", "MAIL_BACKEND": "folder",
                      "MAIL_FOLDER": tempfile.mkdtemp(), "NURTURE_BATCH_SIZE": 1000})
    database = cabos_db.database(app)
    if url.startswith("postgresql"):
        with database.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate.upgrade(database.engine)
    library = app.extensions["cabos.content"].current()
    sequences = [s for s in nurture_of(library).sequences.values() if s.trigger.kind == "guide"]
    rules = rules_of(library)
    now = cabos_db.utcnow()
    # A typical reader: the guide and two learn articles on its problem, last week.
    sample = assess([Reading(now - timedelta(days=7), "guide", "guia-inventario-que-cuadra", "learn",
                             ("inventario-descuadrado",), type="download"),
                     Reading(now - timedelta(days=6), "article", "por-que-no-cuadra-el-inventario", "learn",
                             ("inventario-descuadrado",), engaged_ms=150_000),
                     Reading(now - timedelta(days=5), "article", "recuento-ciclico-paso-a-paso", "learn",
                             ("inventario-descuadrado",), engaged_ms=90_000)], {}, rules, now)
    evidence = evidence_json(sample)
    rng = random.Random(42)
    due_ids = set(rng.sample(range(1, contacts + 1), due))
    with database.session() as session:
        for start in range(1, contacts + 1, CHUNK):
            ids = range(start, min(start + CHUNK, contacts + 1))
            session.execute(insert(Contact), [
                {"id": i, "email": f"reader{i}@example.com", "name": f"Reader {i}", "company": "Bench SL",
                 "role": "", "company_size": "", "country": "", "custom": {}, "consent_text": "",
                 "first_touch": {}, "latest_touch": {}, "created_at": now, "updated_at": now} for i in ids])
            session.execute(insert(IntentState), [
                {"contact_id": i, "score": sample.score, "mode": sample.mode, "grade": "A", "fit_points": 0.0,
                 "interest": dict(sample.interest), "evidence": evidence, "computed_at": now,
                 "mode_since": now - timedelta(days=7), "rules_version": rules.version} for i in ids])
            session.execute(insert(Enrolment), [
                {"contact_id": i, "sequence": sequences[i % len(sequences)].slug, "round": 1, "status": "active",
                 "next_step": sequences[i % len(sequences)].steps[1].id, "step_index": 1,
                 "next_due_at": now - timedelta(minutes=5) if i in due_ids
                 else now + timedelta(minutes=rng.randint(60, 7 * 24 * 60)),
                 "enrolled_at": now - timedelta(days=3), "updated_at": now, "exit_reason": "",
                 "trigger": {"kind": "guide"}} for i in ids])
        if url.startswith("postgresql"):
            session.execute(text("SELECT setval(pg_get_serial_sequence('contacts', 'id'), :n)"), {"n": contacts})
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return app, now


def timed_tick(app, now):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with app.app_context():
        report = run_tick(app, now=now, send=False)
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    started = time.perf_counter()
    app, now = build(url, args.contacts, args.due)
    print(f"built {args.contacts:,} enrolled contacts ({args.due:,} due) on "
          f"{'PostgreSQL' if url.startswith('postgresql') else 'SQLite'} in {time.perf_counter() - started:.1f} s")
    database = cabos_db.database(app)

    idle, _ = timed_tick(app, now - timedelta(hours=1))  # nothing due an hour ago
    seconds, report = timed_tick(app, now)
    with database.session() as session:
        queued = session.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.status == "queued"))
    # A tenth as many due: move 1,000 of the future rows to now.
    tenth = max(args.due // 10, 1)
    with database.session() as session:
        ids = list(session.scalars(select(Enrolment.id).where(Enrolment.next_due_at > now)
                                   .order_by(Enrolment.id).limit(tenth)))
        session.execute(update(Enrolment).where(Enrolment.id.in_(ids)).values(next_due_at=now))
    small, small_report = timed_tick(app, now + timedelta(seconds=1))

    print()
    print("| tick (no delivery) | due | outbox rows written | seconds | per due step |")
    print("|---|---:|---:|---:|---:|")
    print(f"| nothing due | 0 | 0 | {idle:.3f} | — |")
    print(f"| {args.due // 10:,} due | {small_report.due:,} | {small_report.schedule.queued:,} | {small:.2f} | "
          f"{small / max(small_report.due, 1) * 1000:.2f} ms |")
    print(f"| {args.due:,} due | {report.due:,} | {queued:,} | {seconds:.2f} | "
          f"{seconds / max(report.due, 1) * 1000:.2f} ms |")
    print(f"\n{args.contacts:,} enrolled; skipped: {report.schedule.skipped}; exits: {report.schedule.exited}")


if __name__ == "__main__":
    main()
