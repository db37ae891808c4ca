"""Bounce and complaint webhooks of the providers that relay cabos's mail, each verified as its provider documents.

A provider's request is first **verified** (``verify_*`` raise ``Rejected`` with an HTTP
status: 401/403 for a bad or missing signature, 400 for a body that is not what the
provider sends), then **read** into ``Report`` values (``read_*``); events that are not
bounces or complaints (deliveries, opens, delays) give no report. How each is verified:

- Amazon SES through SNS: the SNS message signature (SignatureVersion 1: SHA1withRSA,
  2: SHA256withRSA) over the documented string to sign, with the certificate at
  ``SigningCertURL``, which must be an ``https://sns.<region>.amazonaws.com/…pem`` URL;
  only the topics in MAIL_SES_TOPIC_ARNS are accepted.
- Postmark: HTTP basic authentication with the credentials set in the webhook's URL.
- Mailgun: HMAC-SHA256 of ``timestamp + token`` with the webhook signing key, a timestamp
  no older than 15 minutes.
- SendGrid: the Event Webhook's ECDSA (P-256, SHA-256) signature over
  ``timestamp + body`` with the verification key from SendGrid's settings.
- Brevo: Brevo signs nothing; its webhook carries basic authentication or a bearer token,
  compared with MAIL_BREVO_WEBHOOK_SECRET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cabos.nurture.bounces.models import COMPLAINT, HARD, SOFT, Report

PROVIDERS = ("ses", "postmark", "mailgun", "sendgrid", "brevo")
MAILGUN_MAX_AGE = 15 * 60


class Rejected(Exception):
    """The request is refused with ``status``; nothing was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, f"the body is not JSON: {exc}") from None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _credentials(authorization: str) -> str:
    """``Basic dXNlcjpwYXNz`` → ``user:pass``; ``Bearer t`` → ``t``; else ''."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    return value.strip() if scheme.lower() == "bearer" else ""


# --- Amazon SES via SNS --------------------------------------------------------------------------------------

_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def sns_url_allowed(url: str) -> bool:
    """Only an https URL on an Amazon SNS host (the signing certificate, the subscription URL)."""
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(_SNS_HOST.match(parts.hostname or "")) and parts.port in (None, 443)


def verify_sns(body: bytes, topics: list[str], fetch: Callable[[str], bytes]) -> dict[str, Any]:
    """The SNS envelope, once its signature and topic are checked."""
    envelope = _json(body)
    if not isinstance(envelope, dict) or envelope.get("Type") not in _SIGNED_FIELDS:
        raise Rejected(400, "not an Amazon SNS message")
    if envelope.get("TopicArn") not in topics:
        raise Rejected(403, f"topic {str(envelope.get('TopicArn'))[:200]!r} is not in MAIL_SES_TOPIC_ARNS")
    cert_url = str(envelope.get("SigningCertURL", ""))
    if not sns_url_allowed(cert_url) or not cert_url.endswith(".pem"):
        raise Rejected(403, "SigningCertURL is not an https Amazon SNS certificate URL")
    version = str(envelope.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
    if algorithm is None:
        raise Rejected(403, f"unknown SignatureVersion {version[:10]!r}")
    fields = _SIGNED_FIELDS[envelope["Type"]]
    try:
        text = "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope
                       and not (name == "Subject" and envelope[name] is None))
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        certificate = x509.load_pem_x509_certificate(fetch(cert_url))
    except (KeyError, ValueError) as exc:
        raise Rejected(403, f"cannot check the signature: {exc}") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Rejected(403, "the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, text.encode(), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise Rejected(403, "bad signature") from None
    return envelope  # type: ignore[no-any-return]


def read_ses(notification: dict[str, Any]) -> list[Report]:
    """SES's bounce and complaint notifications (and configuration-set events, with ``eventType``)."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") or {}
    message_id = str((mail.get("commonHeaders") or {}).get("messageId") or "")
    if not message_id:
        message_id = next((str(h.get("value", "")) for h in mail.get("headers") or []
                           if str(h.get("name", "")).lower() == "message-id"), "")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        return [Report(HARD if hard else SOFT, message_id, str(r.get("emailAddress", "")).lower(),
                       str(r.get("status") or bounce.get("bounceSubType") or ""),
                       str(r.get("diagnosticCode") or bounce.get("bounceSubType") or ""),
                       f"{bounce.get('feedbackId', '')}:{r.get('emailAddress', '')}")
                for r in bounce.get("bouncedRecipients") or []]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        if complaint.get("complaintSubType") == "OnAccountSuppressionList":
            return []
        return [Report(COMPLAINT, message_id, str(r.get("emailAddress", "")).lower(),
                       str(complaint.get("complaintFeedbackType") or "complaint"), "",
                       f"{complaint.get('feedbackId', '')}:{r.get('emailAddress', '')}")
                for r in complaint.get("complainedRecipients") or []]
    return []


# --- Postmark --------------------------------------------------------------------------------------------------

_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked"}
_POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "AutoResponder"}
POSTMARK_HEADER = "X-PM-Metadata-cabos-message-id"  # Postmark hands it back as Metadata["cabos-message-id"]


def verify_postmark(authorization: str, secret: str) -> None:
    if not secret or not _same(_credentials(authorization), secret):
        raise Rejected(401, "bad or missing basic authentication")


def read_postmark(payload: Any) -> list[Report]:
    if not isinstance(payload, dict) or "RecordType" not in payload:
        raise Rejected(400, "not a Postmark webhook")
    record, kind_of = payload["RecordType"], str(payload.get("Type", ""))
    if record == "SpamComplaint" or kind_of == "SpamComplaint":
        kind = COMPLAINT
    elif record == "Bounce" and kind_of in _POSTMARK_HARD:
        kind = HARD
    elif record == "Bounce" and kind_of in _POSTMARK_SOFT:
        kind = SOFT
    else:
        return []
    message_id = str((payload.get("Metadata") or {}).get("cabos-message-id") or "")
    return [Report(kind, message_id, str(payload.get("Email", "")).lower(), kind_of,
                   str(payload.get("Description") or payload.get("Details") or ""), f"{payload.get('ID', '')}")]


# --- Mailgun ---------------------------------------------------------------------------------------------------


def verify_mailgun(payload: Any, key: str, now: float | None = None) -> None:
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict) or not key:
        raise Rejected(401, "missing Mailgun signature")
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not _same(expected, str(signature.get("signature", ""))):
        raise Rejected(401, "bad Mailgun signature")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > MAILGUN_MAX_AGE:
        raise Rejected(401, "the Mailgun signature is too old")


def read_mailgun(payload: dict[str, Any]) -> list[Report]:
    event = payload.get("event-data")
    if not isinstance(event, dict):
        raise Rejected(400, "not a Mailgun webhook (no event-data)")
    name = event.get("event")
    headers = (event.get("message") or {}).get("headers") or {}
    message_id = str(headers.get("message-id", ""))
    recipient = str(event.get("recipient", "")).lower()
    key = str(event.get("id", ""))
    if name == "complained":
        return [Report(COMPLAINT, message_id, recipient, "complained", "", key)]
    if name == "failed":
        status = event.get("delivery-status") or {}
        kind = HARD if event.get("severity") == "permanent" else SOFT
        return [Report(kind, message_id, recipient, str(status.get("code", "")),
                       str(status.get("description") or status.get("message") or event.get("reason") or ""), key)]
    return []


# --- SendGrid --------------------------------------------------------------------------------------------------

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def verify_sendgrid(body: bytes, signature: str, timestamp: str, public_key: str) -> None:
    if not public_key or not signature or not timestamp:
        raise Rejected(401, "missing SendGrid signature")
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key))
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        raise Rejected(401, "unreadable SendGrid signature or key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Rejected(401, "the SendGrid verification key is not an ECDSA key")
    try:
        key.verify(raw_signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Rejected(401, "bad SendGrid signature") from None


def read_sendgrid(payload: Any) -> list[Report]:
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        raise Rejected(400, "not a SendGrid event batch (a JSON array of events)")
    reports = []
    for event in payload:
        name = event.get("event")
        message_id, recipient = str(event.get("smtp-id", "")), str(event.get("email", "")).lower()
        key = str(event.get("sg_event_id", ""))
        if name == "spamreport":
            reports.append(Report(COMPLAINT, message_id, recipient, "spamreport", "", key))
        elif name == "bounce":
            kind = SOFT if event.get("type") == "blocked" else HARD
            reports.append(Report(kind, message_id, recipient, str(event.get("status", "")),
                                  str(event.get("reason", "")), key))
    return reports


# --- Brevo -----------------------------------------------------------------------------------------------------

BREVO_HEADER = "X-Mailin-custom"  # Brevo hands it back in the webhook under the same name


def verify_brevo(authorization: str, secret: str) -> None:
    if not secret or not _same(_credentials(authorization), secret):
        raise Rejected(401, "bad or missing authorization")


def read_brevo(payload: Any) -> list[Report]:
    if not isinstance(payload, dict) or "event" not in payload:
        raise Rejected(400, "not a Brevo webhook")
    name = payload["event"]
    kind = {"hard_bounce": HARD, "soft_bounce": SOFT, "spam": COMPLAINT, "complaint": COMPLAINT}.get(name)
    if kind is None:
        return []
    custom = str(payload.get("X-Mailin-custom") or "")
    message_id = custom if custom.startswith("<") else str(payload.get("message-id") or "")
    return [Report(kind, message_id, str(payload.get("email", "")).lower(), name,
                   str(payload.get("reason", "")), f"{message_id}:{name}:{payload.get('ts_event', '')}")]
