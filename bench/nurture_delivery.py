"""Delivery rate of the nurture outbox to a local SMTP sink, against bare smtplib.

    .venv/bin/python bench/nurture_delivery.py [--messages 1000] [--senders 1 2]
        [--postgres postgresql+psycopg:///cabos_bench?host=/var/run/postgresql]

An aiosmtpd sink runs in its own process on loopback and counts what it receives
per recipient: every queued row is a different contact, so a row sent twice shows
as a recipient with two messages (a resend gets a new Message-ID, so counting
Message-IDs would not show it). It also reports the average message size, so the
baseline's messages can be seen to be as large as cabos's. The baseline sends N pre-built
messages with smtplib over one persistent connection. cabos then delivers N
queued outbox rows: claim, check suppression / enrolment / intent for the batch,
render (Markdown already compiled; tags, signed links, layout), then per row one
commit that marks the previous row sent (with its ``email_sent`` event and
Message-ID map row) and this one sending, and SMTP over the sender's reused
connection — with 1 and 2 sender processes on the same
SQLite file, and on PostgreSQL if ``--postgres`` names a database (it is
emptied). Ratio = cabos / the baseline run just before it (same load).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import smtplib
import socket
import sys
import tempfile
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cabos import db as cabos_db  # noqa: E402
from cabos import migrate  # noqa: E402
from cabos.contacts.models import Contact  # noqa: E402
from cabos.nurture.models import Enrolment, OutboxMessage  # noqa: E402
from cabos.nurture.outbox import Sender  # noqa: E402
from cabos.site import create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.size = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        for rcpt in envelope.rcpt_tos:
            self.seen[rcpt] = self.seen.get(rcpt, 0) + 1
        self.size += len(envelope.content)
        return "250 OK"


def run_sink(port: int, ready, pipe) -> None:  # type: ignore[no-untyped-def]
    """The SMTP sink; answers "count" on the pipe with (messages, distinct recipients, bytes) and resets."""
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while pipe.recv() == "count":
            seen, size, sink.seen, sink.size = sink.seen, sink.size, {}, 0
            pipe.send((sum(seen.values()), len(seen), size))
    finally:
        controller.stop()


def config(url: str, port: int) -> dict[str, object]:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(ROOT / "content"),
            "SITE_URL": "https://www.estiba.example", "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port, "MAIL_FROM": "hola@estiba.example", "NURTURE_CLAIM_SIZE": 20}


def queue(url: str, port: int, n: int) -> None:
    app = create_app(config(url, port))
    database = cabos_db.database(app)
    migrate.upgrade(database.engine)
    now = cabos_db.utcnow()
    with database.session() as session:
        session.execute(text("DELETE FROM events"))
        session.execute(text("DELETE FROM nurture_outbox"))
        session.execute(text("DELETE FROM nurture_enrolments"))
        session.execute(text("DELETE FROM contacts"))
        session.execute(insert(Contact), [
            {"id": i, "email": f"reader{i}@example.com", "name": f"Lectora {i}", "company": "Bench SL", "role": "",
             "company_size": "", "country": "", "custom": {}, "consent_text": "", "first_touch": {},
             "latest_touch": {}, "created_at": now, "updated_at": now} for i in range(1, n + 1)])
        session.execute(insert(Enrolment), [
            {"id": i, "contact_id": i, "sequence": "bienvenida-inventario", "round": 1, "status": "active",
             "next_step": "siguiente-lectura", "step_index": 1, "next_due_at": now + timedelta(days=3),
             "enrolled_at": now, "updated_at": now, "exit_reason": "", "trigger": {}} for i in range(1, n + 1)])
        session.execute(insert(OutboxMessage), [
            {"enrolment_id": i, "contact_id": i, "sequence": "bienvenida-inventario", "step": "inventario-bienvenida",
             "round": 1, "email": "inventario-bienvenida", "status": "queued", "reason": "", "due_at": now,
             "created_at": now, "next_attempt_at": now, "attempts": 0, "error": "", "data": {}}
            for i in range(1, n + 1)])
    database.engine.dispose()


def sender(url: str, port: int, results) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config(url, port))
    with app.app_context():
        started, cpu = time.time(), time.process_time()
        counts = Sender(app).deliver()
        results.put((counts.sent, started, time.time(), time.process_time() - cpu))


def baseline(port: int, n: int) -> float:
    messages = []
    for i in range(n):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "hola@estiba.example", f"reader{i}@example.com", "Bench"
        message["Message-ID"] = f"<bench.{i}@estiba.example>"
        message.set_content("x" * 1500)
        message.add_alternative("<p>" + "x" * 4000 + "</p>", subtype="html")
        messages.append(message)
    started, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for message in messages:
            smtp.send_message(message)
    return n / (time.perf_counter() - started), (time.process_time() - cpu) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", help="Also run on this PostgreSQL database (emptied first).")
    args = parser.parse_args()
    port = free_port()
    ready = multiprocessing.Event()
    pipe, sink_end = multiprocessing.Pipe()
    sink = multiprocessing.Process(target=run_sink, args=(port, ready, sink_end), daemon=True)
    sink.start()
    ready.wait(30)
    databases = [("SQLite", f"sqlite:///{Path(tempfile.mkdtemp()) / 'delivery.sqlite3'}")]
    if args.postgres:
        databases.append(("PostgreSQL", args.postgres))
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    try:
        print("| sender | messages | messages/s | bare smtplib just before, messages/s | ratio | CPU ms per message "
              "(senders; smtplib) | received at the sink (distinct recipients) | KB per message (smtplib) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, url in databases:
            for count in args.senders:
                # The baseline runs just before each configuration: on a shared machine the load
                # moves from minute to minute, and a ratio means something only under the same load.
                base, base_cpu = baseline(port, args.messages)
                pipe.send("count")
                base_received, base_distinct, base_size = pipe.recv()
                assert (base_received, base_distinct) == (args.messages, args.messages)
                queue(url, port, args.messages)
                results: multiprocessing.Queue[tuple[int, float, float, float]] = multiprocessing.Queue()
                workers = [multiprocessing.Process(target=sender, args=(url, port, results))
                           for _ in range(count)]
                for w in workers:
                    w.start()
                done = [results.get(timeout=900) for _ in workers]
                for w in workers:
                    w.join()
                sent = sum(d[0] for d in done)
                rate = sent / (max(d[2] for d in done) - min(d[1] for d in done))
                pipe.send("count")
                received, distinct, size = pipe.recv()
                label = f"cabos outbox, {count} sender process{'es' if count > 1 else ''} ({name})"
                cpu_ms = sum(d[3] for d in done) / max(sent, 1) * 1000
                print(f"| {label} | {sent:,} | {rate:,.0f} | {base:,.0f} | {rate / base:.2f} "
                      f"| {cpu_ms:.1f}; {base_cpu * 1000:.1f} | {received:,} ({distinct:,}) "
                      f"| {size / max(received, 1) / 1024:.1f} ({base_size / base_received / 1024:.1f}) |", flush=True)
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        pipe.send("stop")
        sink.join(10)
        sink.terminate()


if __name__ == "__main__":
    main()
