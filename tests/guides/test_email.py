"""The guide's email: queued by the form, sent by the worker's job through a real SMTP server (aiosmtpd).

The request never talks to the mail server; the delivery is the nurture outbox's: at most
once, temporary failures retried later, a 5xx fails the row, two senders never send one twice.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.site import guide_mail
from cabos.site.download_links import read_token
from cabos.nurture.models import GuideMail
from tests.conftest import CABOS, SECRET, SmtpServer, _CollectingHandler, cabos_env
from tests.guides.conftest import csrf_token, deliver, submit, token_from
from tests.guides.test_download import _links_in
from tests.nurture.conftest import add_contact, slow_smtp  # noqa: F401 (a fixture)


@pytest.fixture
def app_config(smtp_server) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "MAIL_FROM": "guides@example.test"}


def _rows(session: Session) -> list[GuideMail]:
    session.expire_all()
    return list(session.scalars(select(GuideMail).order_by(GuideMail.id)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_form_queues_and_the_worker_job_delivers_by_smtp_with_a_working_link(
        app: Flask, client: FlaskClient, smtp_server, session: Session) -> None:  # type: ignore[no-untyped-def]
    resp = submit(client, name="Ana Pérez", email="ana@example.com")
    assert resp.status_code == 303
    assert smtp_server.messages == []
    [row] = _rows(session)
    assert (row.guide, row.kind, row.status) == ("count-stock", "form", "queued")
    # The worker runs the job registered by the guides after each tick.
    with app.app_context():
        app.extensions["cabos.worker_jobs"][guide_mail.JOB](app, lambda: False)
    [delivered] = smtp_server.messages
    assert delivered.rcpt_tos == ["ana@example.com"]
    message = delivered.message
    assert message["Subject"] == "Your guide: Count stock right"
    assert message["To"] == "Ana Pérez <ana@example.com>"
    assert message["From"] == "Test Co <guides@example.test>"
    [row] = _rows(session)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert message["Message-ID"] == row.message_id and message["X-Cabos-Guide-Mail"] == str(row.id)
    [link] = _links_in(message.as_bytes())
    assert link.startswith("http://localhost/guides/count-stock/download?token=")
    # Signed when sent, for the same contact and guide as the thank-you page's link.
    mailed = read_token(SECRET, token_from(link), "count-stock", 3600)
    shown = read_token(SECRET, token_from(resp.headers["Location"]), "count-stock", 3600)
    assert (mailed.contact_id, mailed.email_hash) == (shown.contact_id, shown.email_hash)
    html = message.get_body(("html",)).get_content()
    assert f'href="{link}"' in html.replace("&amp;", "&")
    pdf = client.get(link.removeprefix("http://localhost"), buffered=True)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert deliver(app).sent == 0  # sent once


def test_a_refused_address_fails_its_row_and_is_suppressed(app: Flask, client: FlaskClient, smtp_server,  # type: ignore[no-untyped-def]
                                                          session: Session) -> None:
    smtp_server.refuse("ana@example.com")
    resp = submit(client)
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "We are also sending you the link by email" in page
    assert 'id="download"' in page
    counts = deliver(app)
    assert (counts.sent, counts.failed) == (0, 1)
    [row] = _rows(session)
    assert (row.status, row.reason) == ("failed", "rejected") and "550" in row.error
    assert session.get(Suppression, email_hash("ana@example.com")) is not None
    assert smtp_server.messages == []
    assert deliver(app).failed == 0  # not tried again


def test_smtp_down_the_form_answers_at_once_and_the_email_goes_out_once_it_is_back(
        app_factory, content_dir: Path, session: Session) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()  # nothing listens here yet
    app = app_factory(content_dir, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
    client = app.test_client()
    started = time.monotonic()
    assert submit(client).status_code == 303
    csrf = csrf_token(client, "/guides/count-stock/new-link")
    resend = client.post("/guides/count-stock/new-link", data={"csrf_token": csrf, "email": "ana@example.com"})
    assert resend.status_code == 200
    assert time.monotonic() - started < 3
    counts = deliver(app)
    assert (counts.sent, counts.retried) == (0, 2)
    rows = _rows(session)
    assert [(r.kind, r.status, r.reason, r.attempts) for r in rows] == [("form", "queued", "retry", 1),
                                                                       ("resend", "queued", "retry", 1)]
    assert all(r.next_attempt_at is not None and r.next_attempt_at > utcnow() for r in rows)

    server = SmtpServer("127.0.0.1", port)
    controller = Controller(_CollectingHandler(server), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert deliver(app).sent == 0  # not before its back-off
        with time_machine.travel(utcnow() + timedelta(seconds=app.config["NURTURE_RETRY_BASE"] + 1)):
            assert deliver(app).sent == 2
            assert deliver(app).sent == 0
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in server.messages] == [["ana@example.com"], ["ana@example.com"]]
    assert {r.status for r in _rows(session)} == {"sent"}


def test_a_mail_server_that_never_answers_does_not_hold_the_request(app_factory, content_dir: Path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as blackhole:  # accepts connections (the kernel's backlog) and never says hello
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)
        app = app_factory(content_dir, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1",
                          MAIL_PORT=blackhole.getsockname()[1], MAIL_TIMEOUT=30)
        client = app.test_client()
        started = time.monotonic()
        assert submit(client).status_code == 303
        assert time.monotonic() - started < 3


def test_two_deliverers_at_once_send_each_email_once(slow_smtp, session: Session, database_url: str,  # type: ignore[no-untyped-def]
                                                      content_dir: Path) -> None:
    now = utcnow()
    for n in range(16):
        guide_mail.queue(session, add_contact(session, f"p{n}@example.com", f"Person {n}"), "count-stock",
                         guide_mail.FORM, now)
    session.commit()
    slow_smtp.delay = 0.05  # long enough for the two runs to overlap
    env = cabos_env(database_url, content_dir, **slow_smtp.env(), CABOS_NURTURE_CLAIM_SIZE="2")
    runs = [subprocess.Popen([CABOS, "mail", "deliver"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = []
    for run in runs:
        out, err = run.communicate(timeout=90)
        assert run.returncode == 0, f"{out}\n{err}"
        outputs.append(out)
    sent = Counter(int(m["X-Cabos-Guide-Mail"]) for m in slow_smtp.messages)
    assert len(sent) == 16 and set(sent.values()) == {1}, sent.most_common(3)
    rows = _rows(session)
    assert {r.status for r in rows} == {"sent"} and sorted(sent) == [r.id for r in rows]
    assert all(out.startswith("guide mail: sent") for out in outputs), outputs


def test_an_email_left_sending_by_a_dead_sender_is_in_doubt_and_sent_again_only_when_staff_say_so(
        app: Flask, client: FlaskClient, smtp_server, session: Session, runner) -> None:  # type: ignore[no-untyped-def]
    assert submit(client).status_code == 303
    [row] = _rows(session)
    row.status, row.claimed_by, row.sending_at, row.attempts = "sending", "dead", utcnow() - timedelta(hours=1), 1
    session.commit()
    counts = deliver(app)
    assert (counts.sent, counts.stuck) == (0, 1)
    [row] = _rows(session)
    assert (row.status, row.reason) == ("unknown", "sender_lost")
    assert deliver(app).sent == 0 and smtp_server.messages == []  # never resent on its own
    listed = runner.invoke(args=["mail", "stuck"])
    assert listed.exit_code == 0 and f"#{row.id} contact {row.contact_id} count-stock (form)" in listed.output
    assert runner.invoke(args=["mail", "stuck", "--id", str(row.id), "--mark", "requeue"]).exit_code == 0
    again = runner.invoke(args=["mail", "stuck", "--id", str(row.id), "--mark", "sent"])
    assert again.exit_code == 1 and "is not in 'unknown' state" in again.output
    delivered = runner.invoke(args=["mail", "deliver"])
    assert delivered.exit_code == 0 and delivered.output.startswith("guide mail: sent 1"), delivered.output
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]


def test_an_email_for_a_guide_unpublished_meanwhile_is_skipped(app: Flask, session: Session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    guide_mail.queue(session, add_contact(session), "gone-guide", guide_mail.RESEND, utcnow())
    session.commit()
    counts = deliver(app)
    assert (counts.sent, counts.skipped) == (0, 1)
    assert [(r.status, r.reason) for r in _rows(session)] == [("skipped", "guide_gone")]
    assert smtp_server.messages == []
