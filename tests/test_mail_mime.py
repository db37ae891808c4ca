"""Bulk messages written straight to bytes read back as what was written, in any mail parser's eyes."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.headerregistry import Address

import pytest

from cabos.mail_mime import alternative, header_line

TEXT = ("Hola Ñandú,\n\n.una línea que empieza por punto\nigual = no es una cabecera \nFrom here\n"
        + "x" * 1200 + "\n")
HTML = "<p>Hola <strong>Ñandú</strong></p>\n<p>" + "y" * 1500 + "</p>\n"


def _parsed(data: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(data, policy=policy.default)


@pytest.mark.parametrize("name", ["Ana", "Ñandú Pérez-Ortega", "O'Brien, \"Pat\"", "José " * 30])
def test_what_is_written_parses_back_to_the_same_names_subject_and_parts(name: str) -> None:
    subject = "Tu guía de inventario, " + name.strip() + " — €"
    out = alternative(sender="Estiba Logística <hola@estiba.example>", to=Address(name.strip(), "ana", "example.com"),
                      subject=subject, text=TEXT, html=HTML, message_id="<7.nurture.7@estiba.example>",
                      headers=[("List-Unsubscribe", "<https://www.estiba.example/e/u/" + "t" * 300 + ">"),
                               ("X-Cabos-Outbox", "7")])
    lines = out.data.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines) and b"\n" not in out.data.replace(b"\r\n", b"")
    assert out.data.isascii()  # 8-bit clean servers take it: every non-ASCII character is encoded
    message = _parsed(out.data)
    assert message["Subject"] == subject
    assert message["To"].addresses[0].addr_spec == "ana@example.com"
    assert message["From"].addresses[0].display_name == "Estiba Logística"
    assert message["Message-ID"] == "<7.nurture.7@estiba.example>" and message["X-Cabos-Outbox"] == "7"
    assert message["List-Unsubscribe"] == "<https://www.estiba.example/e/u/" + "t" * 300 + ">"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert (text, html) == (TEXT, HTML)
    assert (out.sender, out.recipients) == ("hola@estiba.example", ("ana@example.com",))
    assert out.as_message()["Subject"] == subject


def test_short_names_decode_exactly() -> None:
    out = alternative(sender="hola@estiba.example", to=Address("Ñandú Pérez", "ana", "example.com"), subject="s",
                      text="t", html="h")
    assert _parsed(out.data)["To"].addresses[0].display_name == "Ñandú Pérez"


@pytest.mark.parametrize("value", ["hi\r\nBcc: x@evil.example", "hi\nX: y", "hi\r"])
def test_a_value_cannot_add_a_header(value: str) -> None:
    with pytest.raises(ValueError):
        header_line("Subject", value)
    with pytest.raises(ValueError):
        alternative(sender="hola@estiba.example", to=Address(value, "ana", "example.com"), subject="s", text="t",
                    html="h")


def test_an_ascii_body_with_short_lines_goes_as_written() -> None:
    out = alternative(sender="hola@estiba.example", to="ana@example.com", subject="Hi", text="Hello\nthere\n",
                      html="<p>Hello</p>")
    assert b"Content-Transfer-Encoding: 7bit\r\n\r\nHello\r\nthere\r\n" in out.data
