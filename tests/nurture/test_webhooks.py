"""Provider webhooks: each provider's documented payload, signed as it signs it, with our own keys.

The providers are outside the machine; the tests sign with keys they generate (an RSA
certificate for Amazon SNS, injected through the ``cabos.sns_fetch`` seam; an ECDSA key for
SendGrid; an HMAC key for Mailgun) and the app verifies exactly as in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import func, select

from cabos.contacts.models import Suppression
from cabos.contacts.privacy import email_hash
from cabos.nurture.bounces.models import Feedback
from cabos.nurture.bounces.webhooks import sns_url_allowed
from tests.nurture.conftest import add_contact, guide_event, rows, tick

TOPIC = "arn:aws:sns:eu-west-1:123456789012:cabos-ses-feedback"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
BREVO_TOKEN = "brevo-token-5f2a"
POSTMARK_AUTH = "cabos:pm-secret-99"


def _rsa_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


SNS_KEY, SNS_CERT = _rsa_certificate()
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "MAIL_SES_TOPIC_ARNS": TOPIC, "MAIL_POSTMARK_WEBHOOK_SECRET": POSTMARK_AUTH,
            "MAIL_MAILGUN_SIGNING_KEY": MAILGUN_KEY, "MAIL_SENDGRID_VERIFICATION_KEY": SENDGRID_PUBLIC,
            "MAIL_BREVO_WEBHOOK_SECRET": BREVO_TOKEN, "MAIL_SOFT_BOUNCE_LIMIT": 3}


@pytest.fixture
def fetched(app: Flask) -> list[str]:
    """Every URL the app fetched from 'Amazon': the signing certificate and subscription URLs."""
    urls: list[str] = []

    def fetch(url: str) -> bytes:
        urls.append(url)
        return SNS_CERT if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    app.extensions["cabos.sns_fetch"] = fetch
    return urls


@pytest.fixture
def sent(app: Flask, session) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    contact = add_contact(session)
    guide_event(session, contact)
    session.commit()
    tick(app)
    (row,) = rows(session)
    return contact, row.message_id


# --- how each provider signs and shapes its request ------------------------------------------------------------


def sns(message: dict[str, Any] | str, type_: str = "Notification", version: str = "1",
        key: rsa.RSAPrivateKey = SNS_KEY, **extra: str) -> bytes:
    envelope = {"Type": type_, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "TopicArn": TOPIC,
                "Message": message if isinstance(message, str) else json.dumps(message),
                "Timestamp": "2026-12-01T09:15:04.123Z", "SignatureVersion": version, "SigningCertURL": CERT_URL,
                "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
                **extra}
    if type_ == "SubscriptionConfirmation":
        envelope["Token"] = "2336412f37fb687f5d51e6e2425dacbba2a"
        envelope.setdefault("SubscribeURL", "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
                                            f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425dacbba2a")
        fields = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    else:
        fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    text = "".join(f"{f}\n{envelope[f]}\n" for f in fields if f in envelope)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    envelope["Signature"] = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), algorithm)).decode()
    return json.dumps(envelope).encode()


def ses_bounce(message_id: str, bounce_type: str = "Permanent") -> dict[str, Any]:
    return {"notificationType": "Bounce",
            "bounce": {"bounceType": bounce_type, "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
                       "bouncedRecipients": [{"emailAddress": "ana@example.com", "action": "failed",
                                              "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                       "timestamp": "2026-12-01T09:15:03.000Z",
                       "feedbackId": "0102017a1b2c3d4e-5f6a7b8c-1111-2222-3333-444455556666-000000",
                       "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"},
            "mail": {"timestamp": "2026-12-01T09:15:01.000Z", "source": "hola@estiba.example",
                     "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/estiba.example",
                     "messageId": "0102017a1b2c3d4e-aaaa-bbbb-cccc-000000000000-000000",
                     "destination": ["ana@example.com"], "headersTruncated": False,
                     "headers": [{"name": "Message-ID", "value": message_id}],
                     "commonHeaders": {"from": ["Estiba <hola@estiba.example>"], "to": ["Ana <ana@example.com>"],
                                       "messageId": message_id, "subject": "Your stock guide, Ana"}}}


def ses_complaint(message_id: str) -> dict[str, Any]:
    return {"notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": "ana@example.com"}],
                          "timestamp": "2026-12-01T10:01:00.000Z", "feedbackId": "0102017a-complaint-0001",
                          "complaintFeedbackType": "abuse", "userAgent": "ExampleFBL/1.0"},
            "mail": ses_bounce(message_id)["mail"]}


def postmark(message_id: str, type_: str = "HardBounce", record: str = "Bounce") -> dict[str, Any]:
    return {"RecordType": record, "ID": 4323372036854775807, "Type": type_, "TypeCode": 1, "Name": "Hard bounce",
            "Tag": "", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Metadata": {"cabos-message-id": message_id},
            "ServerID": 23, "MessageStream": "outbound", "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": "ana@example.com", "From": "hola@estiba.example", "BouncedAt": "2026-12-01T09:15:03.9070259Z",
            "DumpAvailable": True, "Inactive": True, "CanActivate": True, "Subject": "Your stock guide, Ana"}


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def mailgun(message_id: str, event: str = "failed", severity: str = "permanent", key: str = MAILGUN_KEY,
            timestamp: int | None = None) -> dict[str, Any]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": str(timestamp), "token": token, "signature": signature},
            "event-data": {"event": event, "severity": severity, "id": "G9Bn5sl1TC6nu79C8C0bwg",
                           "timestamp": float(timestamp), "recipient": "ana@example.com", "reason": "bounce",
                           "log-level": "error", "recipient-domain": "example.com",
                           "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                                               "description": "", "attempt-no": 1},
                           "message": {"headers": {"to": "Ana <ana@example.com>", "from": "hola@estiba.example",
                                                   "subject": "Your stock guide, Ana",
                                                   "message-id": message_id.strip("<>")}, "size": 4120}}}


def sendgrid(events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                  "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


def sendgrid_event(message_id: str, event: str = "bounce", **extra: Any) -> dict[str, Any]:
    return {"email": "ana@example.com", "timestamp": 1764580503, "smtp-id": message_id, "event": event,
            "category": ["nurture"], "sg_event_id": f"sg-{event}-{len(extra)}-ZmM2NzY0", "sg_message_id":
            "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "reason": "500 unknown recipient",
            "status": "5.0.0", "type": "bounce", **extra}


def brevo(message_id: str, event: str = "hard_bounce") -> dict[str, Any]:
    return {"event": event, "email": "ana@example.com", "id": 26224, "date": "2026-12-01 10:15:03",
            "ts": 1764580503, "message-id": "<202612010915.12345678901@smtp-relay.mailin.fr>",
            "ts_event": 1764580503, "subject": "Your stock guide, Ana", "tag": "", "sending_ip": "185.41.28.109",
            "ts_epoch": 1764580503123, "reason": "550 5.1.1 user unknown", "X-Mailin-custom": message_id}


# --- the tests --------------------------------------------------------------------------------------------------


def _suppressed(session, contact) -> str | None:  # type: ignore[no-untyped-def]
    session.expire_all()
    found = session.get(Suppression, email_hash(contact.email))
    return found.reason if found else None


@pytest.mark.parametrize("provider", ["ses", "ses-v2", "postmark", "mailgun", "sendgrid", "brevo"])
def test_a_signed_hard_bounce_suppresses_the_address(client, session, sent, fetched, provider: str) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = sent
    if provider.startswith("ses"):
        response = client.post("/mail/webhooks/ses", data=sns(ses_bounce(message_id), version="2" if provider == "ses-v2" else "1"))
        assert fetched == [CERT_URL]
    elif provider == "postmark":
        response = client.post("/mail/webhooks/postmark", json=postmark(message_id), headers=basic(POSTMARK_AUTH))
    elif provider == "mailgun":
        response = client.post("/mail/webhooks/mailgun", json=mailgun(message_id))
    elif provider == "sendgrid":
        body, headers = sendgrid([sendgrid_event(message_id, "delivered"), sendgrid_event(message_id)])
        response = client.post("/mail/webhooks/sendgrid", data=body, headers=headers)
    else:
        response = client.post("/mail/webhooks/brevo", json=brevo(message_id),
                               headers={"Authorization": f"Bearer {BREVO_TOKEN}"})
    assert response.status_code == 200, response.get_json()
    assert _suppressed(session, contact) == "bounced"


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid", "brevo"])
def test_a_complaint_suppresses_as_a_complaint(client, session, sent, fetched, provider: str) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = sent
    if provider == "ses":
        response = client.post("/mail/webhooks/ses", data=sns(ses_complaint(message_id), Subject="Amazon SES Complaint"))
    elif provider == "postmark":
        response = client.post("/mail/webhooks/postmark", json=postmark(message_id, "SpamComplaint", "SpamComplaint"),
                               headers=basic(POSTMARK_AUTH))
    elif provider == "mailgun":
        response = client.post("/mail/webhooks/mailgun", json=mailgun(message_id, "complained"))
    elif provider == "sendgrid":
        body, headers = sendgrid([sendgrid_event(message_id, "spamreport")])
        response = client.post("/mail/webhooks/sendgrid", data=body, headers=headers)
    else:
        response = client.post("/mail/webhooks/brevo", json=brevo(message_id, "spam"), headers=basic(BREVO_TOKEN))
    assert response.status_code == 200, response.get_json()
    assert _suppressed(session, contact) == "complaint"


def _bad_requests(message_id: str) -> list[tuple[str, dict[str, Any], int]]:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged_body, forged_headers = sendgrid([sendgrid_event(message_id)], ec.generate_private_key(ec.SECP256R1()))
    good_body, good_headers = sendgrid([sendgrid_event(message_id)])
    tampered = json.loads(sns(ses_bounce(message_id)))
    tampered["Message"] = tampered["Message"].replace("Permanent", "Transient")
    return [
        ("ses", {"data": sns(ses_bounce(message_id), key=other_key)}, 403),  # signed by someone else
        ("ses", {"data": json.dumps(tampered).encode()}, 403),  # changed after signing
        ("ses", {"data": sns(ses_bounce(message_id), SigningCertURL="http://sns.eu-west-1.amazonaws.com/x.pem")}, 403),
        ("ses", {"data": sns(ses_bounce(message_id), SigningCertURL="https://sns.eu-west-1.amazonaws.com.evil.example/x.pem")}, 403),
        ("ses", {"data": sns(ses_bounce(message_id), TopicArn="arn:aws:sns:eu-west-1:999:other")}, 403),
        ("ses", {"data": b"{not json"}, 400),
        ("ses", {"data": sns(ses_bounce("<nobody@elsewhere.example>"))}, 404),
        ("postmark", {"json": postmark(message_id), "headers": basic("cabos:wrong")}, 401),
        ("postmark", {"json": postmark(message_id)}, 401),
        ("postmark", {"json": postmark("<nobody@elsewhere.example>"), "headers": basic(POSTMARK_AUTH)}, 404),
        ("mailgun", {"json": mailgun(message_id, key="key-not-ours")}, 401),
        ("mailgun", {"json": mailgun(message_id, timestamp=int(time.time()) - 3600)}, 401),  # a replay
        ("mailgun", {"json": {"event-data": mailgun(message_id)["event-data"]}}, 401),
        ("sendgrid", {"data": forged_body, "headers": forged_headers}, 401),
        ("sendgrid", {"data": good_body.replace(b"bounce", b"spamreport", 1), "headers": good_headers}, 401),
        ("sendgrid", {"data": good_body}, 401),
        ("brevo", {"json": brevo(message_id), "headers": {"Authorization": "Bearer nope"}}, 401),
        ("brevo", {"json": brevo("<nobody@elsewhere.example>"), "headers": {"Authorization": f"Bearer {BREVO_TOKEN}"}}, 404),
    ]


def test_a_bad_signature_or_an_unknown_message_is_refused_and_changes_nothing(client, session, sent, fetched) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = sent
    for provider, request, status in _bad_requests(message_id):
        response = client.post(f"/mail/webhooks/{provider}", **request)
        assert response.status_code == status, (provider, response.get_json())
        assert "error" in response.get_json()
    assert _suppressed(session, contact) is None
    assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_a_batch_with_one_unknown_message_applies_nothing(client, session, sent) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = sent
    body, headers = sendgrid([sendgrid_event(message_id), sendgrid_event("<nobody@elsewhere.example>", extra=1)])
    assert client.post("/mail/webhooks/sendgrid", data=body, headers=headers).status_code == 404
    assert _suppressed(session, contact) is None


def test_an_unconfigured_provider_answers_404(app: Flask, client) -> None:  # type: ignore[no-untyped-def]
    app.config["MAIL_BREVO_WEBHOOK_SECRET"] = None
    assert client.post("/mail/webhooks/brevo", json={"event": "spam"}).status_code == 404
    assert client.post("/mail/webhooks/nobody", json={}).status_code == 404


def test_a_repeated_webhook_counts_once_and_soft_bounces_only_count(client, session, sent, fetched) -> None:  # type: ignore[no-untyped-def]
    contact, message_id = sent
    for _ in range(2):
        response = client.post("/mail/webhooks/ses", data=sns(ses_bounce(message_id, "Transient")))
        assert response.status_code == 200
    assert response.get_json()["result"] == "duplicate"
    assert _suppressed(session, contact) is None
    assert session.scalar(select(func.count()).select_from(Feedback)) == 1


def test_an_sns_subscription_is_confirmed_through_the_signed_url_only(client, fetched) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/mail/webhooks/ses", data=sns("You have chosen to subscribe", "SubscriptionConfirmation")
                       ).status_code == 200
    assert fetched[-1].startswith("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")
    evil = sns("subscribe", "SubscriptionConfirmation", SubscribeURL="https://attacker.example/collect")
    assert client.post("/mail/webhooks/ses", data=evil).status_code == 403
    assert not any("attacker" in url for url in fetched)


@pytest.mark.parametrize(("url", "allowed"), [
    (CERT_URL, True),
    ("https://sns.cn-north-1.amazonaws.com.cn/cert.pem", True),
    ("http://sns.eu-west-1.amazonaws.com/cert.pem", False),
    ("https://sns.eu-west-1.amazonaws.com:8443/cert.pem", False),
    ("https://s3.amazonaws.com/cert.pem", False),
    ("https://sns.eu-west-1.amazonaws.com.attacker.example/cert.pem", False),
    ("https://attacker.example/sns.eu-west-1.amazonaws.com/cert.pem", False),
])
def test_only_https_amazon_sns_hosts_are_fetched(url: str, allowed: bool) -> None:
    assert sns_url_allowed(url) is allowed


def test_postmark_and_brevo_get_their_header_with_the_message_id(app_factory, make_content, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from email.message import EmailMessage

    from cabos import mail

    for provider, header in (("postmark", "X-PM-Metadata-cabos-message-id"), ("brevo", "X-Mailin-custom")):
        application = app_factory(make_content(), **smtp_server.settings, MAIL_PROVIDER=provider)
        message = EmailMessage()
        message["To"], message["Subject"] = "ana@example.com", "Hola"
        message.set_content("Hola")
        with application.app_context():
            message_id = mail.send(message)
        assert str(smtp_server.messages[-1].message[header]).strip() == message_id


def test_counts_per_sequence_and_step_on_the_staff_page_and_in_the_api(app: Flask, client, session, sent,  # type: ignore[no-untyped-def]
                                                                       fetched, staff_client, make_staff) -> None:
    from cabos.db import session_scope
    from cabos.staff.auth import new_token
    from cabos.staff.models import StaffUser

    contact, message_id = sent
    other = add_contact(session, "luis@example.com", "Luis")
    guide_event(session, other)
    session.commit()
    tick(app)
    assert client.post("/mail/webhooks/mailgun", json=mailgun(message_id, "complained")).status_code == 200

    page = staff_client("marketer").get("/staff/nurture/deliverability")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "welcome" in html and "Complaints" in html
    assert staff_client("sales").get("/staff/nurture/deliverability").status_code == 403

    def api(role: str):  # type: ignore[no-untyped-def]
        user = make_staff(role)
        with app.app_context(), session_scope(app) as s:
            token = new_token(s, s.get(StaffUser, user.id))
        api_client = app.test_client()
        api_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return api_client

    body = api("marketer").get("/api/deliverability").get_json()
    (welcome,) = [s for s in body["sequences"] if s["sequence"] == "welcome"]
    assert (welcome["sent"], welcome["complaints"], welcome["suppressed"], welcome["hard"]) == (2, 1, 1, 0)
    assert welcome["complaint_rate"] == 0.5
    (step,) = [s for s in body["steps"] if s["sequence"] == "welcome" and s["complaints"]]
    assert step["step"] and body["total"]["sent"] == 2
    assert api("marketer").get("/api/deliverability?since=2999-01-01").get_json()["total"]["sent"] == 0
    assert api("marketer").get("/api/deliverability?since=yesterday").status_code == 400
    assert api("sales").get("/api/deliverability").status_code == 403
