"""Bounce messages as they arrive in a mailbox: delivery status notifications and spam complaints.

Three shapes are read:

- RFC 3464 DSNs: ``multipart/report; report-type=delivery-status`` with a
  ``message/delivery-status`` part (Postfix, Microsoft Exchange/Outlook, Gmail, Exim
  when it sends DSNs) and the original message or its headers;
- RFC 5965 (ARF) complaints: ``multipart/report; report-type=feedback-report``
  (a mailbox provider's feedback loop): always a complaint;
- the plain-text bounces older MTAs still send (Exim's default "Mail delivery failed",
  old Gmail): an ``X-Failed-Recipients`` header, the SMTP answer in the text, and a
  copy of the original message after a separator line.

The email a report is about is found by the original ``Message-ID``. What cannot be
read raises ``Malformed`` with the reason; the caller keeps the message for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser

from cabos.nurture.bounces.models import COMPLAINT, HARD, SOFT, Report


class Malformed(ValueError):
    """The message looks like no report cabos can use; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Reading:
    """What one mailbox message said: its reports (none for a delay warning or a success notice)."""

    reports: list[Report]
    note: str = ""  # why nothing came of it, when nothing did
    recipient: str = ""


_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")
_SEPARATORS = re.compile(r"^-{2,}\s*(This is a copy of|Original message|Below this line is a copy|"
                         r"The header of the original message)", re.I | re.M)
# Soft even when final: the mailbox exists (full, over quota) or the message was too big for now.
_SOFT_STATUSES = {"5.2.2", "5.2.1", "5.3.4"}


def parse(raw: bytes) -> Reading:
    """The reports in one bounce message; raises ``Malformed`` with the reason if there are none to be had."""
    if not raw or not raw.strip():
        raise Malformed("empty message")
    try:
        message = message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the email package rarely raises, but a broken MIME tree can
        raise Malformed(f"not a MIME message: {exc}") from exc
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type", "", header="content-type") or "").lower()
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _arf(message)
    if content_type == "multipart/report" and report_type == "delivery-status":
        return _dsn(message)
    if content_type == "multipart/report":
        raise Malformed(f"a multipart/report of an unknown type {report_type or '(none)'!r}")
    if message["X-Failed-Recipients"]:
        return _plain_bounce(message)
    raise Malformed(f"not a delivery report ({content_type}, no X-Failed-Recipients header)")


def _parts(message: EmailMessage) -> list[Message]:
    return [p for p in message.walk() if p is not message]


def _original_message_id(message: EmailMessage) -> str:
    """The Message-ID of the email the report is about, from the returned message or its headers."""
    for part in _parts(message):
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner["Message-ID"]:
                return str(inner["Message-ID"]).strip()
        elif kind in ("text/rfc822-headers", "text/global-headers"):
            headers = HeaderParser(policy=policy.compat32).parsestr(_text(part))
            if headers["Message-ID"]:
                return str(headers["Message-ID"]).strip()
    return ""


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return str(part.get_payload())


def _status_fields(part: Message) -> list[dict[str, str]]:
    """The groups of a message/delivery-status part: per-message fields first, then one per recipient."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses each group as a header block
        groups = [{k.lower(): str(v) for k, v in block.items()} for block in payload if isinstance(block, Message)]
    else:
        text = _text(part).replace("\r\n", "\n")
        groups = [{k.lower(): str(v) for k, v in HeaderParser(policy=policy.compat32).parsestr(block).items()}
                  for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return groups


def _address(field: str) -> str:
    """``rfc822; ana@example.com`` → ``ana@example.com``."""
    return field.split(";", 1)[-1].strip().strip("<>").lower()


def _dsn(message: EmailMessage) -> Reading:
    status_part = next((p for p in _parts(message)
                        if p.get_content_type() in ("message/delivery-status", "message/global-delivery-status")),
                       None)
    if status_part is None:
        raise Malformed("a delivery-status report without a message/delivery-status part")
    recipients = [g for g in _status_fields(status_part) if "final-recipient" in g or "original-recipient" in g]
    if not recipients:
        raise Malformed("the delivery-status part names no recipient")
    message_id = _original_message_id(message)
    if not message_id:
        raise Malformed("the report does not include the original message's Message-ID")
    reports, notes = [], []
    for group in recipients:
        recipient = _address(group.get("final-recipient") or group.get("original-recipient", ""))
        action = group.get("action", "").strip().lower()
        status_match = _STATUS.search(group.get("status", ""))
        if action in ("delayed", "delivered", "relayed", "expanded"):
            notes.append(f"{recipient}: {action}")
            continue
        if action != "failed":
            raise Malformed(f"unknown Action {action or '(missing)'!r} for {recipient}")
        if status_match is None:
            raise Malformed(f"no valid Status for {recipient}")
        status = ".".join(status_match.groups())
        detail = " ".join(group.get("diagnostic-code", "").split(";", 1)[-1].split())
        kind = SOFT if status.startswith("4") or status in _SOFT_STATUSES else HARD
        key = f"{kind}:{message_id.strip('<> ')}:{recipient}"
        reports.append(Report(kind, message_id, recipient, status, detail, key))
    first = _address(recipients[0].get("final-recipient") or recipients[0].get("original-recipient", ""))
    return Reading(reports, "; ".join(notes), first)


def _arf(message: EmailMessage) -> Reading:
    feedback = next((p for p in _parts(message) if p.get_content_type() == "message/feedback-report"), None)
    if feedback is None:
        raise Malformed("a feedback report without a message/feedback-report part")
    fields = {k: v for group in _status_fields(feedback) for k, v in group.items()}
    if "feedback-type" not in fields:
        raise Malformed("the feedback report has no Feedback-Type")
    message_id = _original_message_id(message)
    if not message_id:
        raise Malformed("the complaint does not include the original message's Message-ID")
    recipient = _address(fields.get("original-rcpt-to", ""))
    kind_of = fields["feedback-type"].strip().lower()
    if kind_of not in ("abuse", "fraud", "virus", "other"):
        return Reading([], f"feedback of type {kind_of!r} is not a complaint", recipient)
    key = f"complaint:{message_id.strip('<> ')}"
    detail = " ".join(f"{fields.get(k, '')}" for k in ("user-agent",)).strip()
    return Reading([Report(COMPLAINT, message_id, recipient, kind_of, detail or "feedback loop", key)], "", recipient)


def _plain_bounce(message: EmailMessage) -> Reading:
    failed = [a.strip().lower() for a in str(message["X-Failed-Recipients"]).split(",") if a.strip()]
    body = message.get_body(preferencelist=("plain",))
    text = (body.get_content() if body is not None else "").replace("\r\n", "\n")  # mailboxes keep CRLF
    separator = _SEPARATORS.search(text)
    if separator is None:
        raise Malformed("a plain-text bounce without a copy of the original message")
    explanation, original = text[:separator.start()], text[separator.end():]
    original = original.split("\n", 1)[-1].lstrip("\n")
    headers = HeaderParser(policy=policy.compat32).parsestr(original.replace("=\n", ""))
    message_id = str(headers["Message-ID"] or headers["Message-Id"] or "").strip()
    if not message_id:
        raise Malformed("the copy of the original message has no Message-ID")
    status_match = _STATUS.search(explanation)
    code = _SMTP_CODE.search(explanation)
    if status_match:
        status = ".".join(status_match.groups())
    elif code:
        status = f"{code.group(1)}.0.0"
    elif "permanent" in explanation.lower():
        status = "5.0.0"
    else:
        raise Malformed("a plain-text bounce that says neither an SMTP code nor whether it is permanent")
    kind = SOFT if status.startswith("4") or status in _SOFT_STATUSES else HARD
    detail = " ".join(explanation.split())[-300:]
    reports = [Report(kind, message_id, rcpt, status, detail, f"{kind}:{message_id.strip('<> ')}:{rcpt}")
               for rcpt in failed]
    return Reading(reports, "", failed[0] if failed else "")
