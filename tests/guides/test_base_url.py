"""One base URL: `cabos serve --dev` on another port makes the guide email's link point at that port."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from email import message_from_bytes, policy
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from cabos.cli import same_address, served_url
from tests.conftest import CABOS, cabos_env
from tests.guides.conftest import VALID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_addresses_compare_by_scheme_host_and_port() -> None:
    assert served_url("0.0.0.0", 5123) == "http://localhost:5123"
    assert same_address("http://localhost:5000", "http://127.0.0.1:5000/")
    assert not same_address("http://localhost:5000", "http://127.0.0.1:5123")
    assert not same_address("https://example.com", "http://example.com")
    assert same_address("https://example.com", "https://example.com:443")


def test_the_development_server_links_to_the_port_it_answers_on(
        database_url: str, content_dir: Path, tmp_path: Path, session: Session) -> None:
    port = _free_port()
    env = cabos_env(database_url, content_dir, CABOS_MAIL_BACKEND="folder", CABOS_MAIL_FOLDER=str(tmp_path / "mail"),
                    CABOS_PDF_CACHE_DIR=str(tmp_path / "pdf"))
    del env["CABOS_SITE_URL"]  # site.yml says http://example.test: not where this server answers
    server = subprocess.Popen([CABOS, "serve", "--dev", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        deadline = time.monotonic() + 30
        while True:
            try:
                page = opener.open(f"{base}/guides/count-stock", timeout=5).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token
        opener.open(f"{base}/guides/count-stock", urlencode({**VALID, "csrf_token": token.group(1)}).encode(),
                    timeout=10).read()
        deadline = time.monotonic() + 30
        while not list((tmp_path / "mail").glob("*.eml")):
            assert time.monotonic() < deadline, "no email sent by the development server's thread"
            time.sleep(0.2)
        [eml] = (tmp_path / "mail").glob("*.eml")
        text = message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/guides/count-stock/download?token=" in text
        assert "example.test" not in text
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=15)
    assert "is not where this site answers" in err
