"""Slack and Teams alerts against local receivers that check each service's documented JSON; once with two workers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cabos.db import utcnow
from cabos.sales.alerts import queue_overdue
from cabos.sales.models import Delivery, Handoff
from cabos.sales.webhooks import deliver_due
from tests.sales.conftest import two_workers_at_once


def slack_problems(body: dict[str, Any]) -> list[str]:
    """What Slack's incoming webhooks would refuse: `text` required as fallback, blocks of known shape."""
    problems = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text")
    for block in body.get("blocks", []):
        if block.get("type") != "section" or block.get("text", {}).get("type") not in ("mrkdwn", "plain_text"):
            problems.append(f"block {block}")
        elif len(block["text"]["text"]) > 3000:
            problems.append("section text over 3000 characters")
    return problems


def teams_problems(body: dict[str, Any]) -> list[str]:
    """A Teams webhook message: type message, attachments with one Adaptive Card."""
    problems = []
    if body.get("type") != "message":
        problems.append("type")
    cards = body.get("attachments") or []
    if len(cards) != 1 or cards[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("attachment")
    else:
        card = cards[0]["content"]
        if card.get("type") != "AdaptiveCard" or not card.get("version") or not card.get("body"):
            problems.append("card")
        if any(a.get("type") != "Action.OpenUrl" or not a.get("url", "").startswith("http")
               for a in card.get("actions", [])):
            problems.append("actions")
    return problems


class Channel:
    """A local stand-in for hooks.slack.com / a Teams webhook: records bodies, answers as told."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ok_type = self.headers.get("Content-Type", "").startswith("application/json")
                body = json.loads(raw)
                problems = (slack_problems if outer.kind == "slack" else teams_problems)(body)
                status = outer.answers.pop(0) if outer.answers else (400 if problems or not ok_type else 200)
                if status == 200:
                    outer.bodies.append(body)
                reply = b"ok" if outer.kind == "slack" and status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[Channel]:
    c = Channel("slack")
    yield c
    c.close()


@pytest.fixture
def teams() -> Iterator[Channel]:
    c = Channel("teams")
    yield c
    c.close()


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"SALES_SLACK_WEBHOOK_URL": request.getfixturevalue("slack").url,
            "SALES_TEAMS_WEBHOOK_URL": request.getfixturevalue("teams").url, "SALES_WEBHOOK_TIMEOUT": 5}


def test_a_handoff_alerts_slack_and_teams_in_their_formats(app: Flask, db, journey, slack: Channel,
                                                           teams: Channel) -> None:
    counts = deliver_due(app)
    assert counts == {"delivered": 3, "retry": 0, "failed": 0}  # email, Slack, Teams
    assert len(slack.bodies) == 1 and len(teams.bodies) == 1
    link = f"http://localhost/staff/contacts/{journey.contact.id}"
    assert "Marta Ruiz" in slack.bodies[0]["text"] and link in slack.bodies[0]["blocks"][0]["text"]["text"]
    card = teams.bodies[0]["attachments"][0]["content"]
    assert "Marta Ruiz" in card["body"][0]["text"] and card["actions"][0]["url"] == link
    with db.sessions() as s:
        targets = {d.target for d in s.scalars(select(Delivery).where(Delivery.kind.in_(("slack", "teams"))))}
        assert targets == {"slack", "teams"}  # the secret URLs stay in the configuration


def test_a_receiver_that_is_down_is_retried_through_the_outbox(app: Flask, db, journey, slack: Channel,
                                                               teams: Channel) -> None:
    slack.answers = [503]
    now = utcnow()
    deliver_due(app, now)
    assert slack.bodies == [] and len(teams.bodies) == 1
    deliver_due(app, now + timedelta(minutes=1))
    assert len(slack.bodies) == 1
    with db.sessions() as s:
        row = s.scalar(select(Delivery).where(Delivery.kind == "slack"))
        assert (row.status, row.attempts, row.last_status) == ("delivered", 2, 200)


def test_overdue_alert_is_queued_and_delivered_once_with_two_workers(app: Flask, db, journey, slack: Channel,
                                                                      teams: Channel) -> None:
    deliver_due(app)  # the handoff's own alerts
    with db.sessions() as s:
        s.get(Handoff, journey.handoff.id).due_at = utcnow() - timedelta(minutes=5)
        s.commit()
    two_workers_at_once(lambda: (queue_overdue(app), deliver_due(app)))
    queue_overdue(app)
    deliver_due(app)
    assert len(slack.bodies) == 2 and len(teams.bodies) == 2, slack.bodies
    with db.sessions() as s:
        rows = s.scalars(select(Delivery).where(Delivery.event == "handoff.overdue")).all()
        assert sorted((d.kind, d.status, d.attempts) for d in rows) == [("email", "delivered", 1),  # beside the email
                                                                       ("slack", "delivered", 1),
                                                                       ("teams", "delivered", 1)]
