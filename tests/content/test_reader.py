"""Front matter as Jekyll and Hugo write it."""

import pytest

from cabos.content.reader import FrontMatterError, read_text


def test_yaml_front_matter_with_line_numbers() -> None:
    raw = read_text("---\ntitle: Hola\nstage: learn\n---\nBody line\n")
    assert raw.meta == {"title": "Hola", "stage": "learn"}
    assert raw.lines == {"title": 2, "stage": 3}
    assert raw.body == "Body line\n"
    assert raw.body_line == 5
    assert raw.format == "yaml"


def test_toml_front_matter() -> None:
    raw = read_text('+++\ntitle = "Hola"\ndate = 2024-03-01\n[params]\nx = 1\n+++\nBody')
    assert raw.meta["title"] == "Hola"
    assert str(raw.meta["date"]) == "2024-03-01"
    assert raw.meta["params"] == {"x": 1}
    assert raw.lines == {"title": 2, "date": 3}
    assert raw.format == "toml"


def test_bom_and_crlf() -> None:
    raw = read_text("\ufeff---\r\ntitle: Hola\r\n---\r\nUno\r\nDos\r\n")
    assert raw.meta == {"title": "Hola"}
    assert raw.body == "Uno\nDos\n"


def test_no_front_matter_is_all_body() -> None:
    raw = read_text("# Just markdown\n\ntext")
    assert raw.meta == {}
    assert raw.body.startswith("# Just markdown")


@pytest.mark.parametrize("text,line", [
    ("---\ntitle: [unclosed\n---\nbody", 3),
    ("---\ntitle: a\n  bad: indent\n---\n", 3),
])
def test_broken_yaml_names_the_line(text: str, line: int) -> None:
    with pytest.raises(FrontMatterError) as exc:
        read_text(text)
    assert "YAML" in exc.value.message
    assert exc.value.line == line


def test_unclosed_front_matter() -> None:
    with pytest.raises(FrontMatterError, match="never closed"):
        read_text("---\ntitle: a\nno end")


def test_front_matter_that_is_not_a_mapping() -> None:
    with pytest.raises(FrontMatterError, match="mapping"):
        read_text("---\n- a\n- b\n---\nbody")


def test_broken_toml_names_the_line() -> None:
    with pytest.raises(FrontMatterError) as exc:
        read_text('+++\ntitle = "a"\ndate = = 3\n+++\n')
    assert exc.value.line == 3
