"""Webhooks to a real receiver on loopback that checks the signature; retries, backoff and the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cabos.db import utcnow
from cabos.sales.models import Delivery
from cabos.sales.webhooks import backoff, deliver_due, verify
from tests.conftest import staff_login

SECRET = "whsec-test-0123456789"


class Receiver:
    """An HTTP server on 127.0.0.1 that verifies X-Cabos-Signature and answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []  # status codes to give, in order; then 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get("X-Cabos-Signature", "")
                parts = dict(p.split("=", 1) for p in header.split(",")) if "=" in header else {}
                expected = hmac.new(SECRET.encode(), f"{parts.get('t')}.".encode() + body, hashlib.sha256).hexdigest()
                outer.received.append({"valid": hmac.compare_digest(expected, parts.get("v1", "")),
                                       "event": self.headers.get("X-Cabos-Event"),
                                       "delivery": self.headers.get("X-Cabos-Delivery"),
                                       "body": json.loads(body)})
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    r: Receiver = request.getfixturevalue("receiver")
    dead = f"http://127.0.0.1:{_closed_port()}/hook"
    return {"SALES_WEBHOOK_URLS": f"{r.url} {dead}" if "dead" in request.node.name else r.url,
            "SALES_WEBHOOK_SECRET": SECRET, "SALES_WEBHOOK_TIMEOUT": 5, "SALES_WEBHOOK_MAX_ATTEMPTS": 3}


def test_handoff_webhook_is_signed_and_carries_contact_brief_and_trail(app: Flask, db, journey,
                                                                       receiver: Receiver) -> None:
    counts = deliver_due(app)
    assert counts["delivered"] == 2  # the webhook and the assignee's email
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["valid"] and got["event"] == "handoff.created"
    body = got["body"]
    assert body["contact"]["email"] == "marta@almacenes-ruiz.es"
    assert body["handoff"]["id"] == journey.handoff.id and body["handoff"]["assigned_to"] == journey.seller.id
    assert body["brief"]["problems"][0]["slug"] == "inventario-descuadrado"
    assert body["brief"]["purchase_mode"]["at"] == journey.switch_at.isoformat()
    assert {e["type"] for e in body["trail"]} >= {"reading", "form_submit", "download", "email_sent", "mode_change"}
    with db.sessions() as s:
        rows = s.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [(d.kind, d.status, d.attempts) for d in rows] == [("email", "delivered", 1),
                                                                  ("webhook", "delivered", 1)]
        assert got["delivery"] == str(rows[1].id)
    assert deliver_due(app) == {"delivered": 0, "retry": 0, "failed": 0}  # nothing is sent twice


def test_the_assignee_gets_an_email_with_the_brief_and_the_link(app: Flask, journey, tmp_path: Path) -> None:
    deliver_due(app)
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    message = message_from_bytes(files[0].read_bytes(), policy=email_policy.default)
    assert message["To"] == "sofia@staff.example"
    assert "Marta Ruiz" in message["Subject"] and "Almacenes Ruiz" in message["Subject"]
    text = message.get_content()
    assert f"http://localhost/staff/contacts/{journey.contact.id}" in text
    assert "¿Cada cuánto hacéis recuento" in text


def test_a_failing_receiver_is_retried_with_backoff_and_logged(app: Flask, db, journey, receiver: Receiver,
                                                               make_staff) -> None:
    receiver.answers = [500, 503]
    now = utcnow()
    deliver_due(app, now)
    with db.sessions() as s:
        hook = s.scalar(select(Delivery).where(Delivery.kind == "webhook"))
        assert (hook.status, hook.attempts, hook.last_status, hook.last_error) == ("pending", 1, 500, "HTTP 500")
        assert hook.next_attempt_at == now + timedelta(minutes=1)
    assert deliver_due(app, now + timedelta(seconds=30))["retry"] == 0  # not due yet
    deliver_due(app, now + timedelta(minutes=1))
    with db.sessions() as s:
        hook = s.scalar(select(Delivery).where(Delivery.kind == "webhook"))
        assert (hook.attempts, hook.last_status) == (2, 503)
        assert hook.next_attempt_at == now + timedelta(minutes=1) + backoff(2)
    deliver_due(app, now + timedelta(minutes=4))
    with db.sessions() as s:
        hook = s.scalar(select(Delivery).where(Delivery.kind == "webhook"))
        assert (hook.status, hook.attempts, hook.last_status) == ("delivered", 3, 200)
    assert [r["valid"] for r in receiver.received] == [True, True, True]
    assert len({r["delivery"] for r in receiver.received}) == 1  # the same id on every retry
    page = staff_login(app.test_client(), make_staff("admin")).get("/staff/deliveries").get_data(as_text=True)
    assert receiver.url in page


def test_a_dead_receiver_fails_for_good_after_max_attempts(app: Flask, db, journey, receiver: Receiver) -> None:
    now = utcnow()
    for minutes in (0, 1, 3):
        deliver_due(app, now + timedelta(minutes=minutes))
    with db.sessions() as s:
        dead = s.scalar(select(Delivery).where(Delivery.kind == "webhook", Delivery.target != receiver.url))
        assert dead.status == "failed" and dead.attempts == 3
        assert "Connection refused" in dead.last_error or "URLError" in dead.last_error
        alive = s.scalar(select(Delivery).where(Delivery.target == receiver.url))
        assert alive.status == "delivered"


def test_outcomes_send_a_webhook_too(app: Flask, db, journey, receiver: Receiver) -> None:
    deliver_due(app)
    with app.test_request_context("/"), db.sessions() as s:
        from cabos.sales.models import Handoff
        from cabos.sales.outcomes import OutcomeInput, record_outcome
        from cabos.staff.models import StaffUser
        record_outcome(s, s.get(Handoff, journey.handoff.id), OutcomeInput("won", revenue_cents=500_000),
                       s.get(StaffUser, journey.seller.id), utcnow())
        s.commit()
    deliver_due(app)
    last = receiver.received[-1]
    assert last["valid"] and last["event"] == "handoff.outcome"
    assert last["body"]["outcome"]["kind"] == "won" and last["body"]["outcome"]["revenue_cents"] == 500_000
    assert last["body"]["handoff"]["status"] == "won"
    # Newest first: the outcome, and the end of purchase mode it caused (intent exits on a closing outcome).
    assert [e["type"] for e in last["body"]["trail"][:2]] == ["mode_change", "outcome"]


def test_verify_refuses_tampering_and_old_signatures() -> None:
    from cabos.sales.webhooks import sign
    body = b'{"a":1}'
    header = sign(SECRET, 1_000_000, body)
    assert verify(SECRET, header, body, now=1_000_010)
    assert not verify(SECRET, header, b'{"a":2}', now=1_000_010)
    assert not verify("other", header, body, now=1_000_010)
    assert not verify(SECRET, header, body, now=1_000_000 + 3600)
    assert not verify(SECRET, "garbage", body)


def test_purge_keeps_pending_and_recent_deliveries(app: Flask, db, journey, runner) -> None:
    deliver_due(app)
    with db.sessions() as s:
        for d in s.scalars(select(Delivery)):
            d.created_at = utcnow() - timedelta(days=100)
        s.add(Delivery(kind="webhook", event="handoff.created", target="http://127.0.0.1:9/x", payload={},
                       created_at=utcnow() - timedelta(days=100)))
        s.commit()
    result = runner.invoke(args=["sales", "purge-deliveries", "--days", "90"])
    assert result.exit_code == 0 and "removed 2 deliveries" in result.output
    with db.sessions() as s:
        assert [d.status for d in s.scalars(select(Delivery))] == ["pending"]
