"""A broadcast to 10,000 contacts with two worker processes: exactly once, to exactly the dry run's people.

    .venv/bin/python bench/broadcast.py --postgres postgresql+psycopg:///cabos_bench?host=/var/run/postgresql
        [--contacts 10000] [--senders 2]

The database is emptied. Contacts are inserted in bulk: every 5th never agreed to emails, every 7th
is unsubscribed. The segment is everyone who agreed (``consent: true``). The dry run (``plan``) names
the recipients; ``queue`` writes their sends; N sender processes deliver them to an aiosmtpd sink in
its own process, which counts what it receives per recipient. The run fails unless every recipient
got exactly one message and nobody else got any.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nurture_delivery import free_port  # noqa: E402
from cabos import db as cabos_db  # noqa: E402
from cabos import migrate  # noqa: E402
from cabos.contacts.models import Contact, Suppression  # noqa: E402
from cabos.contacts.privacy import email_hash  # noqa: E402
from cabos.nurture.broadcasts import BroadcastMailer, plan, queue  # noqa: E402
from cabos.site import create_app  # noqa: E402


class Sink:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        for rcpt in envelope.rcpt_tos:
            self.seen[rcpt] = self.seen.get(rcpt, 0) + 1
        return "250 OK"


def run_sink(port: int, ready, pipe) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while pipe.recv() == "count":
            pipe.send(dict(sink.seen))
    finally:
        controller.stop()


def content() -> Path:
    root = Path(tempfile.mkdtemp()) / "content"
    for name, body in {
        "site.yml": "name: Bench\nlanguage: es\nbase_url: https://www.estiba.example\n",
        "problems.yml": "- slug: stock\n  name: Stock\n",
        "segments/everyone.yml": "name: Everyone who agreed\nconsent: true\n",
        "broadcasts/news.md": "---\nsubject: \"Novedades, {{ first_name | 'hola' }}\"\npreheader: Lo nuevo.\n"
                              "segment: everyone\n---\nHola {{ first_name }}: [lee esto](/articulos/x).\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


def config(url: str, port: int, root: Path) -> dict[str, object]:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(root), "SITE_URL": "https://www.estiba.example",
            "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_FROM": "hola@estiba.example",
            "NURTURE_CLAIM_SIZE": 50}


def prepare(url: str, port: int, root: Path, n: int) -> tuple[set[str], float]:
    app = create_app(config(url, port, root))
    database = cabos_db.database(app)
    migrate.upgrade(database.engine)
    now = cabos_db.utcnow()
    with database.session() as session:
        for table in ("broadcast_sends", "broadcasts", "events", "nurture_outbox", "nurture_enrolments",
                      "suppressions", "contacts"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(insert(Contact), [
            {"email": f"p{i}@example.com", "name": f"Persona {i}", "company": "", "role": "", "company_size": "",
             "country": "", "custom": {}, "consent_text": "", "first_touch": {}, "latest_touch": {},
             "consent_at": None if i % 5 == 0 else now, "created_at": now, "updated_at": now} for i in range(n)])
        session.execute(insert(Suppression), [{"email_hash": email_hash(f"p{i}@example.com"), "reason": "unsubscribe",
                                               "created_at": now} for i in range(0, n, 7)])
    started = time.perf_counter()
    with app.app_context(), database.session() as session:
        library = app.extensions["cabos.content"].current()
        named = {m.email for m in plan(session, library, "news").recipients}
        queue(session, library, "news", now, "bench")
    database.engine.dispose()
    return named, time.perf_counter() - started


def sender(url: str, port: int, root: Path, results) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config(url, port, root))
    with app.app_context():
        started = time.time()
        counts = BroadcastMailer(app).deliver()
        results.put((counts.sent, started, time.time()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--postgres", required=True, help="A PostgreSQL database (emptied first).")
    args = parser.parse_args()
    port = free_port()
    ready = multiprocessing.Event()
    pipe, sink_end = multiprocessing.Pipe()
    sink = multiprocessing.Process(target=run_sink, args=(port, ready, sink_end), daemon=True)
    sink.start()
    ready.wait(30)
    root = content()
    try:
        expected = {f"p{i}@example.com" for i in range(args.contacts) if i % 5 and i % 7}
        named, queue_seconds = prepare(args.postgres, port, root, args.contacts)
        assert named == expected, "the dry run names other people"
        results: multiprocessing.Queue[tuple[int, float, float]] = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=sender, args=(args.postgres, port, root, results))
                   for _ in range(args.senders)]
        for w in workers:
            w.start()
        done = [results.get(timeout=3600) for _ in workers]
        for w in workers:
            w.join()
        pipe.send("count")
        seen = pipe.recv()
        seconds = max(d[2] for d in done) - min(d[1] for d in done)
        exact = set(seen) == expected and set(seen.values()) == {1}
        print(f"| {args.contacts:,} contacts | {len(expected):,} recipients | dry run + queue {queue_seconds:.1f} s | "
              f"{args.senders} senders: {sum(d[0] for d in done):,} sent in {seconds:.1f} s "
              f"({sum(d[0] for d in done) / seconds:,.0f}/s) | exactly once: {'yes' if exact else 'NO'} |", flush=True)
        if not exact:
            sys.exit(1)
    finally:
        pipe.send("stop")
        sink.join(10)
        sink.terminate()


if __name__ == "__main__":
    main()
