"""The mail transport: a real SMTP server on loopback, the folder backend, typed failures."""

from __future__ import annotations

import socket
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask

from cabos import mail
from cabos.site import create_app


def _message(to: str = "ana@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "Prueba ñ"
    msg.set_content("Hola ñandú\n")
    return msg


@pytest.fixture
def smtp_app(app_factory, make_content, smtp_server) -> Flask:  # type: ignore[no-untyped-def]
    return app_factory(make_content(), **smtp_server.settings, MAIL_FROM="Test Co <news@example.test>")


def test_smtp_delivers_with_from_date_and_message_id(smtp_app: Flask, smtp_server) -> None:  # type: ignore[no-untyped-def]
    with smtp_app.app_context():
        message_id = mail.send(_message())
    [got] = smtp_server.messages
    assert got.rcpt_tos == ["ana@example.com"]
    assert got.mail_from == "news@example.test"
    assert got.message["Message-ID"] == message_id
    assert got.message["Date"]
    assert got.message["Subject"] == "Prueba ñ"
    assert got.message.get_content().rstrip() == "Hola ñandú"


def test_a_refused_recipient_is_a_permanent_failure(smtp_app: Flask, smtp_server) -> None:  # type: ignore[no-untyped-def]
    smtp_server.refuse("gone@example.com")
    with smtp_app.app_context(), pytest.raises(mail.PermanentMailError) as info:
        mail.send(_message("gone@example.com"))
    assert info.value.temporary is False
    assert info.value.code == 550
    assert "gone@example.com" in info.value.recipients
    assert smtp_server.messages == []


def test_a_4xx_answer_is_temporary(smtp_app: Flask, smtp_server) -> None:  # type: ignore[no-untyped-def]
    smtp_server.refuse("busy@example.com", "451 4.3.0 Try again later")
    with smtp_app.app_context(), pytest.raises(mail.TemporaryMailError) as info:
        mail.send(_message("busy@example.com"))
    assert info.value.temporary is True
    assert info.value.code == 451


def test_a_closed_port_is_temporary(app_factory, make_content) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when we leave: nobody listens there
    application = app_factory(make_content(), MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port,
                              MAIL_TIMEOUT=2)
    with application.app_context(), pytest.raises(mail.TemporaryMailError):
        mail.send(_message())


def test_one_connection_carries_a_batch_and_is_renewed_after_the_configured_count(  # type: ignore[no-untyped-def]
        app_factory, make_content, smtp_server) -> None:
    application = app_factory(make_content(), **smtp_server.settings, MAIL_PER_CONNECTION=3)
    with application.app_context(), mail.connection() as conn:
        for i in range(7):
            mail.send(_message(f"r{i}@example.com"), through=conn)
    assert [m.rcpt_tos for m in smtp_server.messages] == [[f"r{i}@example.com"] for i in range(7)]
    assert smtp_server.connections == 3  # 3 + 3 + 1


def test_a_refused_recipient_leaves_the_connection_usable(smtp_app: Flask, smtp_server) -> None:  # type: ignore[no-untyped-def]
    smtp_server.refuse("gone@example.com")
    with smtp_app.app_context(), mail.connection() as conn:
        with pytest.raises(mail.PermanentMailError):
            mail.send(_message("gone@example.com"), through=conn)
        mail.send(_message("ana@example.com"), through=conn)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    assert smtp_server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_reopened_without_losing_the_message(  # type: ignore[no-untyped-def]
        smtp_app: Flask, smtp_server) -> None:
    with smtp_app.app_context(), mail.connection() as conn:
        mail.send(_message("first@example.com"), through=conn)
        smtp_server.hang_up()
        time.sleep(0.2)  # the FIN reaches the client before it speaks again
        mail.send(_message("second@example.com"), through=conn)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["first@example.com"], ["second@example.com"]]
    assert smtp_server.connections == 2


def test_the_rate_limit_spaces_messages(app_factory, make_content, smtp_server) -> None:  # type: ignore[no-untyped-def]
    application = app_factory(make_content(), **smtp_server.settings, MAIL_RATE=20)
    started = time.monotonic()
    with application.app_context(), mail.connection() as conn:
        for i in range(5):
            mail.send(_message(f"r{i}@example.com"), through=conn)
    assert time.monotonic() - started >= 4 / 20  # a floor, never a ceiling: slow machines pass
    assert len(smtp_server.messages) == 5


def test_folder_backend_writes_one_eml_per_message(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        first = mail.send(_message())
        mail.send(_message("bea@example.com"))
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert not list((tmp_path / "mail").glob(".*"))  # no temporary files left behind
    parsed = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert first in {m["Message-ID"] for m in parsed}
    assert {m["To"] for m in parsed} == {"ana@example.com", "bea@example.com"}


def test_unknown_backend_is_refused_at_start(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": database_url, "MAIL_BACKEND": "pigeon",
                    "CONTENT_DIR": str(tmp_path)})
