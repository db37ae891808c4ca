"""One tick of nurture (enrol, schedule, send) and the worker loop that repeats it.

A tick is safe to run from cron while another is still running: scheduling
transactions serialise on the database (SQLite's single-writer lock,
PostgreSQL row locks) and re-read what is due after taking the lock, and
senders claim rows, so an overlapping tick waits its turn or finds nothing
left to do; it never sends a row twice.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from cabos import db
from cabos.intent.rules import rules_of
from cabos.nurture.outbox import SendCounts, Sender
from cabos.nurture.scheduler import Counts, Plan, enrol_new, schedule_due
from cabos.nurture.sequences import nurture_of

log = logging.getLogger("cabos.nurture")
ENROL_BATCH = 5000


@dataclass
class TickReport:
    schedule: Counts = field(default_factory=Counts)
    sends: SendCounts = field(default_factory=SendCounts)
    due: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        s, d = self.schedule, self.sends
        parts = [f"enrolled {s.enrolled}", f"due {self.due}", f"queued {s.queued}", f"sent {d.sent}"]
        for label, value in (("completed", s.completed), ("handed off", s.handoffs), ("postponed", s.postponed),
                             ("retrying", d.retried), ("failed", d.failed), ("unknown", d.unknown + d.stuck),
                             ("cancelled", d.cancelled), ("requeued", d.requeued)):
            if value:
                parts.append(f"{label} {value}")
        if s.skipped:
            parts.append("skipped " + ", ".join(f"{k} {v}" for k, v in sorted(s.skipped.items())))
        if s.exited:
            parts.append("exited " + ", ".join(f"{k} {v}" for k, v in sorted(s.exited.items())))
        return "; ".join(parts) + f" ({self.seconds:.2f} s)"


def plan_for(app: Flask) -> Plan:
    library = app.extensions["cabos.content"].current()
    return Plan(library, nurture_of(library), rules_of(library),
                timedelta(hours=float(app.config["NURTURE_MAX_LATENESS_HOURS"])))


def schedule(app: Flask, now: datetime, report: TickReport | None = None) -> TickReport:
    """Enrol from new events, then turn every due step into an outbox row (in batches)."""
    report = report or TickReport()
    plan = plan_for(app)
    database = db.database(app)
    batch = max(1, int(app.config["NURTURE_BATCH_SIZE"]))
    while True:
        with database.session() as session:
            enrolled, read = enrol_new(session, plan, now, ENROL_BATCH)
        report.schedule.enrolled += enrolled
        if read < ENROL_BATCH:
            break
    # Until nothing is due: a step skipped as late can make the next one due at once.
    # Every due row is moved (advanced, ended or postponed), so this ends.
    while True:
        with database.session() as session:
            counts, due = schedule_due(session, plan, now, batch)
        report.due += due
        _merge(report.schedule, counts)
        if due == 0:
            break
    return report


def run_tick(app: Flask, now: datetime | None = None, stop: Callable[[], bool] | None = None,
             send: bool = True) -> TickReport:
    """One tick: recover stuck sends, enrol, schedule what is due, deliver what is queued."""
    started = time.perf_counter()
    clock = (lambda: now) if now is not None else db.utcnow
    report = TickReport()
    sender = Sender(app, clock=clock)
    sender.recover(clock(), report.sends)
    schedule(app, clock(), report)
    if send and not (stop and stop()):
        sends = sender.deliver(stop)
        sends.requeued, sends.stuck = report.sends.requeued, report.sends.stuck
        report.sends = sends
    report.seconds = time.perf_counter() - started
    return report


def _merge(total: Counts, part: Counts) -> None:
    for name in ("enrolled", "queued", "completed", "postponed", "handoffs"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for reason, n in part.skipped.items():
        total.skipped[reason] = total.skipped.get(reason, 0) + n
    for reason, n in part.exited.items():
        total.exited[reason] = total.exited.get(reason, 0) + n


# Other parts add periodic jobs here (``app.extensions["cabos.worker_jobs"][name] = job``);
# the worker runs each after the nurture tick: ``job(app, stop)``.
JOBS = "cabos.worker_jobs"


class Worker:
    """Runs ticks every WORKER_INTERVAL seconds until SIGTERM or SIGINT, then stops cleanly."""

    def __init__(self, app: Flask, interval: float | None = None) -> None:
        self.app = app
        self.interval = float(interval if interval is not None else app.config["WORKER_INTERVAL"])
        self.stopping = threading.Event()

    def stop(self, *_: Any) -> None:
        if not self.stopping.is_set():
            log.info("worker: stopping after the current message")
        self.stopping.set()

    def run(self, ticks: int | None = None) -> int:
        """Loop; return the number of ticks run. Signals only set a flag: a send is never cut in half."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        done = 0
        try:
            while not self.stopping.is_set() and (ticks is None or done < ticks):
                with self.app.app_context():
                    self._tick()
                done += 1
                if ticks is None or done < ticks:
                    self.stopping.wait(self.interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("worker: stopped after %s ticks", done)
        return done

    def _tick(self) -> None:
        try:
            report = run_tick(self.app, stop=self.stopping.is_set)
            if report.due or report.sends.sent or report.schedule.enrolled:
                log.info("nurture: %s", report.summary())
        except Exception:  # one bad tick (database restarting, SMTP down) must not end the worker
            log.exception("worker: nurture tick failed; trying again in %s s", self.interval)
        for name, job in dict(self.app.extensions.get(JOBS, {})).items():
            if self.stopping.is_set():
                break
            try:
                job(self.app, self.stopping.is_set)
            except Exception:
                log.exception("worker: job %s failed", name)


def start_in_background(app: Flask, interval: float = 5.0) -> Callable[[float], None]:
    """`cabos serve --dev`: the worker's ticks (nurture, then every job) in a daemon thread.

    No signal handlers here (the development server owns them). Returns ``stop(timeout)``, which
    ends the loop after the current tick and waits for it.
    """
    worker = Worker(app, interval)

    def loop() -> None:
        while not worker.stopping.is_set():
            with app.app_context():
                worker._tick()
            worker.stopping.wait(worker.interval)

    thread = threading.Thread(target=loop, name="dev-worker", daemon=True)
    thread.start()

    def stop(timeout: float = 30.0) -> None:
        worker.stopping.set()
        thread.join(timeout)

    return stop
