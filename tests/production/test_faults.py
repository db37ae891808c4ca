"""Faults, with real processes: the database stopped under load, a worker killed, a graceful stop.

Nothing accepted may be lost or doubled: a beacon answered 204 is a reading stored exactly
once, an email is delivered at most once and never silently dropped (a send in doubt is shown
to staff), a request in flight when an instance is told to stop gets its answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from cabos.nurture.models import SENT, UNKNOWN, OutboxMessage
from cabos.tracking.models import ContentView, Event
from tests.conftest import SmtpServer
from tests.production.conftest import (
    Cluster,
    Instance,
    PrivatePostgres,
    Reader,
    click_consent_links,
    outbox_ids,
    view_nonce,
    wait_for,
)
from tests.production.test_instances import guide_mail_ids, paths, request_log_statuses

HIGH_LIMITS = {"CABOS_TRACKING_RATE_LIMIT": "1000000 per minute", "CABOS_FORM_RATE_LIMIT": "1000000 per minute",
               "CABOS_TRACKING_NETWORK_RATE_LIMIT": "1000000 per minute",
               "CABOS_TRACKING_NEW_VISITOR_LIMIT": "1000000 per minute"}


@dataclass
class Hit:
    at: float
    kind: str          # "page" or "beacon"
    status: int        # 0: no answer (timeout, refused)
    seconds: float


def load(instance: Instance, articles: list[str], stop: threading.Event, hits: list[Hit], n: int) -> None:
    """One reader: an article page, then its beacon (a new page view each time), until told to stop."""
    reader = Reader(f"203.0.113.{100 + n}")
    i = n
    while not stop.is_set():
        path = articles[i % len(articles)]
        i += 1
        started = time.monotonic()
        try:
            page = reader.get(instance, path, timeout=5)
            status = page.status_code
        except requests.RequestException:
            status = 0
        hits.append(Hit(started, "page", status, time.monotonic() - started))
        if status != 200:
            continue
        token = page.text.split('data-view="', 1)[1].split('"', 1)[0]
        started = time.monotonic()
        try:
            status = reader.beacon(instance, token, view_nonce(), 5000, 50, timeout=2).status_code
        except requests.RequestException:
            status = 0
        hits.append(Hit(started, "beacon", status, time.monotonic() - started))


def test_postgresql_stopped_for_ten_seconds_under_load(private_postgres: PrivatePostgres, tmp_path: Path,
                                                       smtp_server: SmtpServer) -> None:
    cluster = Cluster(private_postgres.url, tmp_path, smtp_server, settings=dict(HIGH_LIMITS))
    migrated = cluster.run("db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    try:
        app = cluster.instance("app")
        articles = paths(app, "articulos")
        stop, hits = threading.Event(), []
        threads = [threading.Thread(target=load, args=(app, articles, stop, hits, n)) for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(3)
        down_at = time.monotonic()
        private_postgres.stop()
        time.sleep(1)
        ready_during = requests.get(app.url + "/readyz", timeout=10).status_code
        time.sleep(9)
        up_at = time.monotonic()
        private_postgres.start()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        ready_after = requests.get(app.url + "/readyz", timeout=10).status_code
        assert app.stop() == 0, app.output()[-3000:]  # graceful: what is still queued is written now
        log = app.output()
    finally:
        cluster.stop_all()

    during = [h for h in hits if down_at + 0.5 < h.at < up_at]
    pages = [h for h in during if h.kind == "page"]
    beacons = [h for h in during if h.kind == "beacon"]
    assert len(pages) > 20 and {h.status for h in pages} == {200}, Counter(h.status for h in pages)
    assert beacons and {h.status for h in beacons} <= {204, 503}, Counter(h.status for h in beacons)
    assert max(h.seconds for h in beacons) < 2, "beacons are answered at once while the database is away"
    assert ready_during == 503 and ready_after == 200
    # A 500 here once in a few loaded runs (2026-12): its cause in the instance's log, if it says one.
    failed = [line[:3000] for line in log.splitlines() if '"status": 500' in line or "Error handling request" in line
              or '"logger": "cabos.site' in line or '"logger": "cabos.db"' in line]
    assert all(h.status in (200, 204) for h in hits if h.at < down_at or h.at > up_at + 3), \
        f"{Counter((h.kind, h.status) for h in hits)}\n" + "\n".join(failed[-10:])

    accepted = sum(1 for h in hits if h.kind == "beacon" and h.status == 204)
    engine = create_engine(private_postgres.url)
    try:
        with Session(engine) as session:
            events = session.scalar(select(func.count()).select_from(Event).where(Event.type == "reading"))
            distinct = session.scalar(select(func.count(func.distinct(Event.view_id))).where(Event.type == "reading"))
            views = session.scalar(select(func.coalesce(func.sum(ContentView.views), 0)))
    finally:
        engine.dispose()
    assert events == distinct == views == accepted, (events, distinct, views, accepted)
    assert request_log_statuses(app)[500] == 0


def test_beacons_accepted_while_the_database_is_down_survive_a_sigkill(private_postgres: PrivatePostgres,
                                                                      tmp_path: Path, smtp_server: SmtpServer) -> None:
    """PostgreSQL stopped, beacons accepted, the instance (master and workers) killed with SIGKILL,
    PostgreSQL back, the instance started again: every accepted beacon stored exactly once."""
    cluster = Cluster(private_postgres.url, tmp_path, smtp_server, settings=dict(HIGH_LIMITS))
    migrated = cluster.run("db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    engine = create_engine(private_postgres.url)

    def stored() -> tuple[int, int, int]:
        with Session(engine) as session:
            return (session.scalar(select(func.count()).select_from(Event).where(Event.type == "reading")) or 0,
                    session.scalar(select(func.count(func.distinct(Event.view_id))).where(Event.type == "reading")) or 0,
                    session.scalar(select(func.coalesce(func.sum(ContentView.views), 0))) or 0)

    try:
        app = cluster.instance("app")
        reader = Reader("203.0.113.60")
        pages = [reader.get(app, path) for path in paths(app, "articulos")[:4]]
        tokens = [page.text.split('data-view="', 1)[1].split('"', 1)[0] for page in pages]
        private_postgres.stop()
        answers = [reader.beacon(app, tokens[i % len(tokens)], view_nonce(), 4000, 40, timeout=5).status_code
                   for i in range(24)]
        accepted = answers.count(204)
        assert accepted > 0, answers
        spill = tmp_path / "tracking-spill"
        # The writers fail within a flush interval and spill what they hold; later beacons are on disk
        # before they are answered.
        wait_for(lambda: sum(len(p.read_bytes().splitlines()) for p in spill.glob("*.jsonl")) >= accepted, 20,
                 "the accepted readings in the spill files")
        os.killpg(app.popen.pid, signal.SIGKILL)  # master and workers: nothing is written at exit
        app.popen.wait(timeout=10)
        private_postgres.start()
        cluster.instance("app-again")  # its workers replay the files of the killed ones
        wait_for(lambda: stored()[0] >= accepted, 30, "the spilled readings written")
        time.sleep(1.5)  # a second flush would show a double
        assert stored() == (accepted, accepted, accepted)
        assert not list(spill.glob("*.jsonl")), "the spill files are removed once written"
    finally:
        cluster.stop_all()
        engine.dispose()


def test_a_worker_killed_mid_batch_and_restarted_sends_each_email_at_most_once_and_loses_none(
        cluster: Cluster, session: Session, smtp_server: SmtpServer) -> None:
    cluster.settings.update(HIGH_LIMITS)
    # A dead worker's claimed rows go back to the queue after 2 s; a send it had started is in doubt after 3 s.
    cluster.settings.update({"CABOS_NURTURE_CLAIM_TIMEOUT": "2", "CABOS_NURTURE_STUCK_AFTER": "3",
                             "CABOS_NURTURE_CLAIM_SIZE": "20"})
    app = cluster.instance("app")
    guides = paths(app, "guias")
    total = 40
    for n in range(total):
        answer = Reader(f"198.51.100.{n + 1}").fill_form(app, guides[n % len(guides)], email=f"c{n}@almacenes.test")
        assert answer.status_code == 303
    # Marketing consent counts once its emailed link is clicked (double opt-in): each person clicks it,
    # so the worker's tick enrols all 40 and the outbox has a batch to be killed in the middle of.
    assert click_consent_links(session, "%@almacenes.test") == total
    first = cluster.worker("worker-1", interval=0.2)
    wait_for(lambda: len(outbox_ids(smtp_server)) >= 3, 60, "the first worker's first sends", every=0.005)
    os.killpg(first.popen.pid, signal.SIGKILL)  # no cleanup, no atexit: a crash
    first.popen.wait()
    killed_after = len(set(outbox_ids(smtp_server)))
    assert killed_after < total, "the worker was killed mid-batch"

    def settled() -> bool:
        session.expire_all()
        statuses = Counter(session.scalars(select(OutboxMessage.status)))
        return sum(statuses.values()) == total and set(statuses) <= {SENT, UNKNOWN}

    cluster.worker("worker-2", interval=0.2)
    wait_for(settled, 90, "every email sent or in doubt")
    delivered = outbox_ids(smtp_server)
    assert len(delivered) == len(set(delivered)), Counter(delivered).most_common(3)  # nothing twice
    guide_mails = guide_mail_ids(smtp_server)  # the forms' emails, sent by the same workers
    assert len(guide_mails) == len(set(guide_mails)), Counter(guide_mails).most_common(3)
    rows = list(session.scalars(select(OutboxMessage)))
    sent = {r.id for r in rows if r.status == SENT}
    doubt = {r.id for r in rows if r.status == UNKNOWN}
    assert sent <= set(delivered)
    # The one send the crash interrupted (if any) is in doubt, never resent: staff see it and decide.
    assert len(doubt) <= 1 and set(delivered) <= sent | doubt
    stuck = cluster.run("nurture", "stuck")
    assert stuck.returncode == 0
    for row_id in doubt:
        assert str(row_id) in stuck.stdout


def test_a_request_in_flight_when_the_instance_is_stopped_gets_its_answer(cluster: Cluster,
                                                                          session: Session) -> None:
    app = cluster.instance("app")
    reader = Reader("203.0.113.200")
    _, _, token = reader.read(app, paths(app, "articulos")[0])
    body = json.dumps({"token": token, "nonce": view_nonce(), "seq": 0, "engaged_ms": 7000, "scroll_pct": 70,
                       "read_to_end": False, "age_ms": 7500, "ctas": [], "query": "", "referrer": "",
                       "dnt": False, "webdriver": False}).encode()
    host, port = app.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"POST /t/e HTTP/1.1\r\nHost: cabos.test\r\nContent-Type: text/plain\r\n"
                     b"Origin: http://cabos.test\r\nSec-Fetch-Site: same-origin\r\nX-Forwarded-For: 203.0.113.200\r\n"
                     b"X-Forwarded-Host: cabos.test\r\nUser-Agent: " + reader.http.headers["User-Agent"].encode() +
                     b"\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:20])
        time.sleep(0.5)  # a worker is now inside the request, waiting for the rest of the body
        app.signal(signal.SIGTERM)
        time.sleep(1)
        conn.sendall(body[20:])
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
    assert app.popen.wait(timeout=40) == 0
    session.expire_all()
    stored = list(session.scalars(select(Event).where(Event.type == "reading")))
    assert [(e.engaged_ms, e.scroll_pct) for e in stored] == [(7000, 70)]  # written before the process ended
