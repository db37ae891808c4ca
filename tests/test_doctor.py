"""`cabos doctor` names configuration problems in plain words."""

from cabos.doctor import diagnose


def _by_topic(findings):
    return {f.topic: f for f in findings if f.level != "ok"}


def test_doctor_flags_development_defaults(app, monkeypatch) -> None:
    monkeypatch.delenv("CABOS_SECRET_KEY", raising=False)
    findings = _by_topic(diagnose(app))
    assert "CABOS_MAIL_BACKEND=smtp" in findings["mail"].message
    if app.extensions["cabos.db"].is_sqlite:
        assert "PostgreSQL" in findings["database"].message
    assert findings["secret"].level == "warning"


def test_doctor_reports_unreachable_smtp_and_short_secret(app_factory, content_dir, monkeypatch) -> None:
    monkeypatch.setenv("CABOS_SECRET_KEY", "short")
    app = app_factory(content_dir, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=1, SECRET_KEY="short")
    findings = _by_topic(diagnose(app))
    assert findings["mail"].level == "problem" and "127.0.0.1:1 is unreachable" in findings["mail"].message
    assert findings["secret"].level == "problem"


def test_doctor_reports_stale_schema(app_factory, content_dir, tmp_path) -> None:
    app = app_factory(content_dir, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    findings = _by_topic(diagnose(app))
    assert "cabos db upgrade" in findings["database"].message


def test_doctor_command_exit_code(runner) -> None:
    result = runner.invoke(args=["doctor"])
    assert "WeasyPrint" in result.output
    assert result.exit_code in (0, 1)
    assert ("problem" in result.output) == (result.exit_code == 1)


def test_doctor_warns_about_per_process_rate_limits(app_factory, content_dir) -> None:
    shared = diagnose(app_factory(content_dir))
    assert [f.message for f in shared if f.topic == "limits"] == ["rate limits are shared by every process (in the database)."]
    local = _by_topic(diagnose(app_factory(content_dir, RATELIMIT_STORAGE_URI="memory://")))
    assert "counted per process" in local["limits"].message


def test_doctor_warns_when_the_local_base_url_is_not_where_the_site_answers(app_factory, content_dir,
                                                                           live_server) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = s.getsockname()[1]
    elsewhere = _by_topic(diagnose(app_factory(content_dir, SITE_URL=f"http://127.0.0.1:{nobody}")))
    assert f"127.0.0.1:{nobody}" in elsewhere["base url"].message and elsewhere["base url"].level == "warning"
    here = diagnose(app_factory(content_dir, SITE_URL=live_server.url))
    assert [f.level for f in here if f.topic == "base url"] == ["ok"]
    public = diagnose(app_factory(content_dir, SITE_URL="https://www.example.com"))
    assert not [f for f in public if f.topic == "base url"]  # a public address is not probed from here
