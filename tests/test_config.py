"""Settings: load order, types, and docs/settings.md documents every one."""

from pathlib import Path

import pytest

from cabos import config

README = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [s.name for s in config.SETTINGS if f"`CABOS_{s.name}`" not in readme]
    assert missing == [], f"document these settings in docs/settings.md: {missing}"


def test_every_setting_has_help() -> None:
    assert all(len(s.help) >= 10 for s in config.SETTINGS)
    assert len({s.name for s in config.SETTINGS}) == len(config.SETTINGS)


def test_load_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cabos.toml").write_text('mail_server = "from-file"\nmail_port = 2525\ncontent_dir = "x"\n')
    monkeypatch.setenv("CABOS_MAIL_PORT", "2626")
    monkeypatch.setenv("CABOS_MAIL_USE_TLS", "yes")
    loaded = config.load(tmp_path, {"CONTENT_DIR": "override"})
    assert loaded["MAIL_SERVER"] == "from-file"
    assert loaded["MAIL_PORT"] == 2626
    assert loaded["MAIL_USE_TLS"] is True
    assert loaded["CONTENT_DIR"] == "override"
    assert loaded["DOWNLOAD_LINK_MAX_AGE"] == 7 * 24 * 3600
