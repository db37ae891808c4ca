"""Sender authentication: DKIM signatures on what cabos sends, and the SPF, DKIM and DMARC records to publish.

DKIM (dkimpy) signs a message when MAIL_DKIM_SELECTOR and MAIL_DKIM_PRIVATE_KEY are set;
the domain is MAIL_DKIM_DOMAIN, or the domain of MAIL_FROM. ``records`` says what DNS must
hold for the mail to pass, ``check`` looks the names up where the machine can resolve them
(dnspython, a short timeout) and says plainly when it cannot.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization

# What a provider's SPF include is, when MAIL_PROVIDER names one.
SPF_INCLUDES = {"ses": "include:amazonses.com", "postmark": "include:spf.mtasv.net", "mailgun": "include:mailgun.org",
                "sendgrid": "include:sendgrid.net", "brevo": "include:spf.brevo.com"}


def sender_domain(config: Any) -> str:
    return str(config.get("MAIL_DKIM_DOMAIN") or str(config["MAIL_FROM"]).rsplit("@", 1)[-1].strip("> ")).lower()


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_key: bytes  # PEM

    @classmethod
    def from_config(cls, config: Any) -> DkimSigner | None:
        """The signer the settings ask for, or None; a key that cannot be read is a ValueError naming the setting."""
        selector, path = config.get("MAIL_DKIM_SELECTOR"), config.get("MAIL_DKIM_PRIVATE_KEY")
        if not selector and not path:
            return None
        if not selector or not path:
            raise ValueError("DKIM needs both MAIL_DKIM_SELECTOR and MAIL_DKIM_PRIVATE_KEY")
        try:
            pem = Path(str(path)).read_bytes()
            serialization.load_pem_private_key(pem, password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"MAIL_DKIM_PRIVATE_KEY {path}: cannot read an unencrypted PEM private key ({exc})") from None
        return cls(str(selector), sender_domain(config), pem)

    def sign(self, data: bytes) -> bytes:
        """``data`` (a whole message, CRLF line ends) with its DKIM-Signature header in front."""
        signature = dkim.sign(data, self.selector.encode(), self.domain.encode(), self.private_key,
                              canonicalize=(b"relaxed", b"relaxed"))
        return signature + data

    def public_record(self) -> str:
        """The TXT record of ``<selector>._domainkey.<domain>``."""
        key = serialization.load_pem_private_key(self.private_key, password=None).public_key()
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@dataclass(frozen=True)
class Record:
    kind: str  # SPF | DKIM | DMARC
    name: str
    value: str  # what to publish (DKIM without a key: a hint)
    matches: Callable[[str], bool]  # does a published TXT value satisfy it


def records(config: Any) -> list[Record]:
    """The TXT records the sender's domain should publish."""
    domain = sender_domain(config)
    include = SPF_INCLUDES.get(str(config.get("MAIL_PROVIDER") or "").lower())
    spf = f"v=spf1 mx {include} ~all" if include else "v=spf1 mx a ~all"
    out = [Record("SPF", domain, spf, lambda v: v.lower().startswith("v=spf1"))]
    signer = DkimSigner.from_config(config)
    if signer is not None:
        key = signer.public_record().split("p=", 1)[1]
        out.append(Record("DKIM", f"{signer.selector}._domainkey.{domain}", signer.public_record(),
                          lambda v: key in v.replace(" ", "").replace('"', "")))
    out.append(Record("DMARC", f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}",
                      lambda v: v.upper().startswith("V=DMARC1")))
    return out


class CannotResolve(Exception):
    """This machine cannot look names up (no network, no resolver): say so, do not guess."""


def lookup_txt(name: str, timeout: float = 3) -> list[str]:
    """The TXT values at ``name`` ([] when there are none); CannotResolve when DNS cannot be asked."""
    try:
        resolver = dns.resolver.Resolver()
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        raise CannotResolve(f"no DNS resolver configured ({exc.__class__.__name__})") from None
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout, OSError) as exc:
        raise CannotResolve(f"{exc.__class__.__name__} asking for {name}") from None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]  # type: ignore[attr-defined]

