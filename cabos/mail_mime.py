"""Bulk email written straight to bytes: a text and an HTML part, the headers encoded by hand.

The email package's ``EmailMessage`` parses every header into objects and re-folds
them when it flattens the message; for a newsletter of thousands of messages that
was most of the sender's time. An ``Outgoing`` message is written once, with CRLF
line ends as SMTP wants them, and goes out (or is DKIM-signed) as it is:

- header values are checked (no CR or LF: nothing can add a header), non-ASCII
  words become RFC 2047 encoded words, an address keeps its name encoded and its
  address as typed (a non-ASCII address needs the server's SMTPUTF8);
- each part is 7bit when it is ASCII with short lines, quoted-printable otherwise.

``as_message()`` parses it back into an ``EmailMessage`` for previews and tests.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy as email_policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, formatdate, make_msgid, parseaddr

# Parsed back with lines up to RFC 5322's limit: the default (78) would re-encode a long
# List-Unsubscribe URL as RFC 2047 words, which mail clients do not decode in that header.
_PARSER = BytesParser(policy=email_policy.default.clone(max_line_length=998))
_MAX_LINE = 998  # RFC 5322


@dataclass(frozen=True)
class Outgoing:
    """A message already written as bytes (CRLF line ends), with the envelope to send it with."""

    data: bytes
    sender: str
    recipients: tuple[str, ...]
    message_id: str

    @property
    def international(self) -> bool:
        """An address is not ASCII: the server must speak SMTPUTF8."""
        return not all(a.isascii() for a in (self.sender, *self.recipients))

    def as_message(self) -> EmailMessage:
        """Parsed back, with the line ends of a message in memory (as a .eml file is read)."""
        return _PARSER.parsebytes(self.data.replace(b"\r\n", b"\n"))  # type: ignore[return-value]


def encoded_words(value: str) -> str:
    """RFC 2047 base64 words of at most 75 characters, one per folded line, never splitting a character."""
    words, chunk, size = [], [], 0
    for char in value:
        n = len(char.encode("utf-8"))
        if size + n > 45:  # 45 bytes are 60 base64 characters, 72 with "=?utf-8?b?" and "?="
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def header_line(name: str, value: str) -> str:
    """``Name: value`` ready for the wire: encoded words if needed, folded if long."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in the {name} header")
    if value.isascii() and len(name) + 2 + len(value) <= _MAX_LINE:
        return f"{name}: {value}"
    if value.isascii():
        return f"{name}: " + Header(value, "us-ascii", maxlinelen=_MAX_LINE, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded_words(value)}"


def address(value: Address | str) -> tuple[str, str]:
    """(the header's text, the bare address for the envelope)."""
    if isinstance(value, Address):
        name, addr = value.display_name, value.addr_spec
    else:
        name, addr = parseaddr(value)
        if not addr:
            raise ValueError(f"not an address: {value!r}")
    if any(c in addr for c in "\r\n<>, "):
        raise ValueError(f"not an address: {addr!r}")
    if not name:
        return addr, addr
    if name.isascii():
        return formataddr((name, addr)), addr
    if "\r" in name or "\n" in name:
        raise ValueError("line break in a display name")
    # The name as encoded words; the address itself as typed.
    return f"{encoded_words(name)} <{addr}>", addr


def _part(content_type: str, text: str) -> bytes:
    body = "\r\n".join(text.splitlines()) + "\r\n"
    if body.isascii() and all(len(line) <= _MAX_LINE for line in body.split("\r\n")):
        encoding, data = "7bit", body.encode("ascii")
    else:
        encoding = "quoted-printable"
        data = binascii.b2a_qp(body.encode("utf-8"), istext=True)
    return (f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
            .encode("ascii") + data)


def alternative(*, sender: str, to: Address | str, subject: str, text: str, html: str,
                headers: Iterable[tuple[str, str]] = (), message_id: str | None = None) -> Outgoing:
    """A multipart/alternative message (plain text, then HTML) from ``sender`` to ``to``."""
    from_line, envelope_from = address(sender)
    to_line, envelope_to = address(to)
    domain = envelope_from.rsplit("@", 1)[-1] or "localhost"
    message_id = message_id or make_msgid(domain=domain)
    lines = [f"From: {from_line}", f"To: {to_line}", header_line("Subject", subject),
             f"Date: {formatdate(usegmt=True)}", header_line("Message-ID", message_id)]
    lines += [header_line(name, value) for name, value in headers]
    text_part, html_part = _part("text/plain", text), _part("text/html", html)
    boundary = "=_cabos_" + secrets.token_hex(12)
    while boundary.encode() in text_part or boundary.encode() in html_part:  # practically never
        boundary = "=_cabos_" + secrets.token_hex(12)
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    mark = f"--{boundary}\r\n".encode()
    data = b"".join([("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"),
                     mark, text_part, b"\r\n", mark, html_part, f"\r\n--{boundary}--\r\n".encode()])
    return Outgoing(data, envelope_from, (envelope_to,), message_id)
