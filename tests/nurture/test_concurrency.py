"""Real processes against one database and one SMTP server: nothing is ever sent twice.

These run `cabos nurture run` / `cabos worker` as separate processes (the way cron
and systemd run them) on this test's database, SQLite file or PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import CABOS, cabos_env
from tests.nurture.conftest import add_contact, guide_event, rows, tick

_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A failed test must not leave a sender running against the next test's database."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen([CABOS, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _started.append(process)
    return process


def finish(process: subprocess.Popen[str], timeout: float = 90) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}\n{out}\n{err}"
    return out + err


def test_four_overlapping_runs_enrol_queue_and_deliver_each_row_exactly_once(  # type: ignore[no-untyped-def]
        session, slow_smtp, database_url: str, content_dir: Path) -> None:
    people = [add_contact(session, f"p{i}@example.com", f"Person {i}") for i in range(30)]
    for person in people:
        guide_event(session, person)
    session.commit()
    slow_smtp.delay = 0.05  # long enough for the four runs to overlap
    env = cabos_env(database_url, content_dir, **slow_smtp.env(), CABOS_NURTURE_CLAIM_SIZE="2")
    runs = [spawn(["nurture", "run"], env) for _ in range(4)]
    for run in runs:
        finish(run)
    sent = rows(session)
    assert len(sent) == 30 and {r.status for r in sent} == {"sent"}
    assert {r.contact_id for r in sent} == {p.id for p in people}
    delivered = Counter(slow_smtp.outbox_ids())
    assert set(delivered) == {r.id for r in sent} and set(delivered.values()) == {1}
    assert sorted(m["Message-ID"] for m in slow_smtp.messages) == sorted(r.message_id for r in sent)


def test_a_sender_killed_mid_batch_and_restarted_sends_no_duplicate(  # type: ignore[no-untyped-def]
        app: Flask, session, slow_smtp, database_url: str, content_dir: Path) -> None:
    for i in range(8):
        guide_event(session, add_contact(session, f"p{i}@example.com", f"Person {i}"))
    session.commit()
    tick(app, send=False)
    slow_smtp.hold = 3  # the third message is with the server, its answer not given until the sender is dead
    env = cabos_env(database_url, content_dir, **{**slow_smtp.env(), "CABOS_MAIL_TIMEOUT": "120"},
                    CABOS_NURTURE_CLAIM_SIZE="8")
    sender = spawn(["nurture", "run"], env)
    slow_smtp.wait_started(3)
    sender.send_signal(signal.SIGKILL)
    sender.communicate(timeout=30)
    slow_smtp.release()
    in_flight = int(slow_smtp.started[2])
    before = {r.id: r.status for r in rows(session)}
    assert before[in_flight] == "sending"
    assert sorted(before.values()) == ["claimed"] * 5 + ["sending"] + ["sent"] * 2

    # Restarted (here: at once, with no grace period) it recovers instead of repeating.
    finish(spawn(["nurture", "run"], {**env, "CABOS_NURTURE_STUCK_AFTER": "0", "CABOS_NURTURE_CLAIM_TIMEOUT": "0"}))
    after = {r.id: (r.status, r.reason) for r in rows(session)}
    assert after.pop(in_flight) == ("unknown", "sender_lost")
    assert set(after.values()) == {("sent", "")}
    delivered = Counter(slow_smtp.outbox_ids())
    assert set(delivered.values()) == {1} and len(delivered) == 8  # the in-flight one arrived once, never twice


def test_the_worker_stops_cleanly_on_sigterm_between_two_messages(  # type: ignore[no-untyped-def]
        app: Flask, session, slow_smtp, database_url: str, content_dir: Path) -> None:
    for i in range(4):
        guide_event(session, add_contact(session, f"p{i}@example.com", f"Person {i}"))
    session.commit()
    tick(app, send=False)
    slow_smtp.hold = 1  # answered only once the worker has been told to stop
    env = cabos_env(database_url, content_dir, **{**slow_smtp.env(), "CABOS_MAIL_TIMEOUT": "120"},
                    CABOS_NURTURE_CLAIM_SIZE="4")
    worker = spawn(["worker", "--interval", "0.2"], env)
    slow_smtp.wait_started(1)
    worker.send_signal(signal.SIGTERM)
    slow_smtp.release()
    output = finish(worker, timeout=60)
    assert "worker: stopped" in output
    statuses = sorted(r.status for r in rows(session))
    # The message on the wire was finished and recorded; the rest went back to the queue.
    assert statuses == ["queued", "queued", "queued", "sent"]
    assert len(slow_smtp.messages) == 1
