"""DKIM signatures verified with dkimpy against the configured key; the DNS records `cabos doctor` asks for."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cabos import mail, mail_auth
from cabos.doctor import diagnose


@pytest.fixture
def dkim_key(tmp_path: Path) -> tuple[Path, str]:
    """A private key file and the public key's base64 (what DNS would hold after `p=`)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, base64.b64encode(public).decode()


def _message(to: str = "ana@example.com") -> EmailMessage:
    message = EmailMessage()
    message["To"], message["Subject"] = to, "Tu guía, Ana"
    message.set_content("Hola Ana,\n\nAquí tienes la guía: https://www.estiba.example/g/x\n")
    message.add_alternative("<p>Hola Ana</p>", subtype="html")
    return message


def test_a_signed_message_verifies_against_the_configured_key(app_factory, make_content, smtp_server,  # type: ignore[no-untyped-def]
                                                               dkim_key) -> None:
    path, public = dkim_key
    app = app_factory(make_content(), **smtp_server.settings, MAIL_FROM="Estiba <hola@estiba.example>",
                      MAIL_DKIM_SELECTOR="cabos2026", MAIL_DKIM_PRIVATE_KEY=str(path))
    with app.app_context(), mail.connection() as conn:
        mail.send(_message(), through=conn)
        mail.send(_message("luis@example.com"), through=conn)
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return f"v=DKIM1; k=rsa; p={public}".encode()

    for delivered in smtp_server.messages:
        assert delivered.raw.startswith(b"DKIM-Signature:")
        assert b"d=estiba.example" in delivered.raw and b"s=cabos2026" in delivered.raw
        assert dkim.verify(delivered.raw, dnsfunc=dns)
        tampered = delivered.raw.replace(b"Hola Ana", b"Hola Eva")
        assert not dkim.verify(tampered, dnsfunc=dns)
    assert set(asked) == {b"cabos2026._domainkey.estiba.example."}
    assert [d.rcpt_tos for d in smtp_server.messages] == [["ana@example.com"], ["luis@example.com"]]


def test_a_bulk_message_written_to_bytes_is_signed_as_sent_and_verifies(app_factory, make_content, smtp_server,  # type: ignore[no-untyped-def]
                                                                        dkim_key) -> None:
    path, public = dkim_key
    app = app_factory(make_content(), **smtp_server.settings, MAIL_FROM="Estiba <hola@estiba.example>",
                      MAIL_DKIM_SELECTOR="cabos2026", MAIL_DKIM_PRIVATE_KEY=str(path))
    with app.app_context(), mail.connection() as conn:
        outgoing = mail.outgoing(app, to="Ñandú Pérez <ana@example.com>", subject="Tu guía, Ñandú", text="Hola ñ\n",
                                 html="<p>Hola ñ</p>", message_id="<1.nurture.1@estiba.example>")
        mail.send(outgoing, through=conn)
    (delivered,) = smtp_server.messages
    assert delivered.raw.startswith(b"DKIM-Signature:") and delivered.raw.endswith(outgoing.data)
    dns = lambda name, timeout=5: f"v=DKIM1; k=rsa; p={public}".encode()  # noqa: E731
    assert dkim.verify(delivered.raw, dnsfunc=dns)
    assert not dkim.verify(delivered.raw.replace(b"Hola", b"Hole"), dnsfunc=dns)


def test_a_signature_does_not_verify_against_another_key(app_factory, make_content, smtp_server, dkim_key) -> None:  # type: ignore[no-untyped-def]
    path, _ = dkim_key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    app = app_factory(make_content(), **smtp_server.settings, MAIL_DKIM_SELECTOR="s1", MAIL_DKIM_PRIVATE_KEY=str(path),
                      MAIL_FROM="hola@estiba.example")
    with app.app_context():
        mail.send(_message())
    (delivered,) = smtp_server.messages
    assert not dkim.verify(delivered.raw, dnsfunc=lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + base64.b64encode(other))


def test_an_unreadable_key_stops_the_app_with_the_setting_named(app_factory, make_content, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ValueError, match="MAIL_DKIM_PRIVATE_KEY"):
        app_factory(make_content(), MAIL_BACKEND="smtp", MAIL_DKIM_SELECTOR="s1",
                    MAIL_DKIM_PRIVATE_KEY=str(tmp_path / "bad.pem"))


def _mail_findings(app) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.topic: f for f in diagnose(app) if f.topic in ("spf", "dkim", "dmarc")}


def test_doctor_prints_the_records_and_checks_them_where_names_resolve(app_factory, make_content, smtp_server,  # type: ignore[no-untyped-def]
                                                                        dkim_key) -> None:
    path, public = dkim_key
    app = app_factory(make_content(), **smtp_server.settings, MAIL_FROM="hola@estiba.example", MAIL_PROVIDER="ses",
                      MAIL_DKIM_SELECTOR="cabos2026", MAIL_DKIM_PRIVATE_KEY=str(path))
    zone = {"estiba.example": ["google-site-verification=abc", "v=spf1 mx include:amazonses.com ~all"],
            f"cabos2026._domainkey.estiba.example": [f"v=DKIM1; k=rsa; p={public}"]}
    app.extensions["cabos.dns_txt"] = lambda name: zone.get(name, [])
    found = _mail_findings(app)
    assert found["spf"].level == "ok" and found["dkim"].level == "ok"  # type: ignore[attr-defined]
    assert found["dmarc"].level == "problem"  # type: ignore[attr-defined]
    assert '_dmarc.estiba.example TXT "v=DMARC1; p=none; rua=mailto:dmarc@estiba.example"' in found["dmarc"].message  # type: ignore[attr-defined]
    zone["cabos2026._domainkey.estiba.example"] = ["v=DKIM1; k=rsa; p=MIIBIjANold"]  # a stale key
    assert _mail_findings(app)["dkim"].level == "problem"  # type: ignore[attr-defined]
    assert public in _mail_findings(app)["dkim"].message  # type: ignore[attr-defined]


def test_doctor_without_dns_says_so_and_still_prints_every_record(app_factory, make_content, smtp_server) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(make_content(), **smtp_server.settings, MAIL_FROM="hola@estiba.example")

    def offline(name: str) -> list[str]:
        raise mail_auth.CannotResolve("NoNameservers asking for " + name)

    app.extensions["cabos.dns_txt"] = offline
    findings = [f for f in diagnose(app) if f.topic in ("spf", "dkim", "dmarc")]
    text = "\n".join(f.message for f in findings)
    assert "cannot check DNS from this machine" in text and "dig +short TXT estiba.example" in text
    assert 'estiba.example TXT "v=spf1 mx a ~all"' in text and "_dmarc.estiba.example TXT" in text
    assert "not DKIM-signed" in text
    assert all(f.level == "warning" for f in findings)


def test_the_real_resolver_never_hangs_the_doctor(app_factory, make_content, smtp_server) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(make_content(), **smtp_server.settings, MAIL_FROM="hola@cabos-test.invalid")
    findings = [f for f in diagnose(app) if f.topic in ("spf", "dmarc")]
    # Offline: "cannot check DNS"; online: .invalid never resolves, so the records are missing.
    assert len(findings) == 2 and all("publish" in f.message for f in findings)
