"""The browser tests' live server: its teardown must not leave a request running.

A request still running after the test (a beacon chromium sends as a page closes) would write
to a database the next fixture is emptying: once a deadlock, once a connection garbage-collected
in an unrelated test (CI, PostgreSQL).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time

from flask import Flask

from tests.conftest import _TestServer


def test_teardown_waits_for_a_request_already_accepted() -> None:
    app = Flask(__name__)
    started, finished = threading.Event(), threading.Event()

    @app.post("/slow")
    def slow() -> str:
        started.set()
        time.sleep(0.5)
        finished.set()
        return "done"

    server = _TestServer(app)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    conn.request("POST", "/slow", body=b"{}")
    assert started.wait(5)
    server.finish()
    assert finished.is_set()
    assert conn.getresponse().read() == b"done"
    conn.close()
    serving.join(5)


def test_teardown_says_when_a_request_hangs() -> None:
    app = Flask(__name__)
    release = threading.Event()

    @app.get("/stuck")
    def stuck() -> str:
        release.wait(5)
        return "late"

    server = _TestServer(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    conn.request("GET", "/stuck")
    time.sleep(0.2)
    try:
        server.finish(timeout=0.3)
    except AssertionError as error:
        assert "1 request(s) to the live server still running" in str(error)
    else:
        raise AssertionError("finish() returned while a request was running")
    finally:
        release.set()
        conn.getresponse().read()
        conn.close()


def test_a_connection_that_never_sent_a_request_does_not_hold_teardown() -> None:
    server = _TestServer(Flask(__name__))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.create_connection(("127.0.0.1", server.server_port)):  # as chromium preconnects
        time.sleep(0.2)
        started = time.monotonic()
        server.finish(timeout=5)
        assert time.monotonic() - started < 2
