"""POST /mail/webhooks/<provider>: bounces and complaints from SES (SNS), Postmark, Mailgun, SendGrid, Brevo.

Machine to machine, so exempt from the forms' CSRF token: each request is verified as its
provider documents (``webhooks``). A bad signature is 401/403, a body that is not the
provider's 400, a report about no email cabos sent 404 — and in each case nothing changes
(a batch is applied whole or not at all). A provider that is not configured is 404.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable
from functools import lru_cache

from datetime import UTC, date, datetime, time

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from cabos.db import get_session, utcnow
from cabos.nurture.bounces import webhooks
from cabos.nurture.bounces.models import Report
from cabos.nurture.bounces.record import Policy, record
from cabos.nurture.bounces.stats import deliverability
from cabos.nurture.scheduler import begin_write
from cabos.staff.auth import staff_required

log = logging.getLogger("cabos.nurture.bounces")

bp = Blueprint("mail_webhooks", __name__)

MAX_BODY = 1024 * 1024  # SendGrid batches are the largest: well under this


def _answer(status: int, message: str) -> Response:
    response = jsonify({"error": message} if status >= 400 else {"result": message})
    response.status_code = status
    return response


@lru_cache(maxsize=16)
def _fetch_https(url: str) -> bytes:
    """SNS signing certificates and subscription URLs (already checked to be https Amazon SNS hosts)."""
    if not webhooks.sns_url_allowed(url):
        raise ValueError(f"refusing to fetch {url[:200]!r}")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https to an SNS host only
        return response.read(100_000)  # type: ignore[no-any-return]


def sns_fetcher(app: Flask) -> Callable[[str], bytes]:
    """How SNS certificates are fetched: ``app.extensions['cabos.sns_fetch']`` if set (tests), else HTTPS."""
    return app.extensions.get("cabos.sns_fetch") or _fetch_https  # type: ignore[no-any-return]


def _secret(name: str) -> str:
    return str(current_app.config.get(name) or "")


def _reports(provider: str, body: bytes) -> list[Report] | Response:
    headers = request.headers
    if provider == "ses":
        topics = [t.strip() for t in _secret("MAIL_SES_TOPIC_ARNS").split(",") if t.strip()]
        envelope = webhooks.verify_sns(body, topics, sns_fetcher(current_app))
        if envelope["Type"] == "SubscriptionConfirmation":
            url = str(envelope.get("SubscribeURL", ""))
            if not webhooks.sns_url_allowed(url):
                raise webhooks.Rejected(403, "SubscribeURL is not an Amazon SNS URL")
            sns_fetcher(current_app)(url)
            log.info("SES webhook: subscription to %s confirmed", envelope["TopicArn"])
            return _answer(200, "subscribed")
        if envelope["Type"] != "Notification":
            return _answer(200, "ignored")
        notification = webhooks._json(str(envelope["Message"]).encode())
        if not isinstance(notification, dict):
            raise webhooks.Rejected(400, "the SNS message is not an SES notification")
        return webhooks.read_ses(notification)
    if provider == "postmark":
        webhooks.verify_postmark(headers.get("Authorization", ""), _secret("MAIL_POSTMARK_WEBHOOK_SECRET"))
        return webhooks.read_postmark(webhooks._json(body))
    if provider == "mailgun":
        payload = webhooks._json(body)
        webhooks.verify_mailgun(payload, _secret("MAIL_MAILGUN_SIGNING_KEY"))
        return webhooks.read_mailgun(payload)
    if provider == "sendgrid":
        webhooks.verify_sendgrid(body, headers.get(webhooks.SENDGRID_SIGNATURE, ""),
                                 headers.get(webhooks.SENDGRID_TIMESTAMP, ""), _secret("MAIL_SENDGRID_VERIFICATION_KEY"))
        return webhooks.read_sendgrid(webhooks._json(body))
    webhooks.verify_brevo(headers.get("Authorization", ""), _secret("MAIL_BREVO_WEBHOOK_SECRET"))
    return webhooks.read_brevo(webhooks._json(body))


_SETTING = {"ses": "MAIL_SES_TOPIC_ARNS", "postmark": "MAIL_POSTMARK_WEBHOOK_SECRET",
            "mailgun": "MAIL_MAILGUN_SIGNING_KEY", "sendgrid": "MAIL_SENDGRID_VERIFICATION_KEY",
            "brevo": "MAIL_BREVO_WEBHOOK_SECRET"}


@bp.post("/mail/webhooks/<provider>")
def receive(provider: str) -> Response:
    if provider not in _SETTING or not _secret(_SETTING[provider]):
        return _answer(404, f"no webhook for {provider[:30]!r} is configured")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return _answer(413, "the body is too large")
    try:
        reports = _reports(provider, body)
    except webhooks.Rejected as exc:
        log.warning("%s webhook refused (%s): %s", provider, exc.status, exc)
        return _answer(exc.status, str(exc))
    if isinstance(reports, Response):
        return reports
    session = get_session()
    begin_write(session)
    now, policy = utcnow(), Policy.from_config(current_app.config)
    outcomes = []
    for report in reports:
        if not report.message_id:
            session.rollback()
            return _answer(400, "a report names no Message-ID cabos can match")
        outcomes.append(record(session, provider, report, now, policy))
    if "unknown" in outcomes:
        session.rollback()  # all or nothing: the provider sends the batch again, or someone looks
        log.warning("%s webhook: a report about no email cabos sent; nothing applied", provider)
        return _answer(404, "no email sent by cabos has that Message-ID")
    session.commit()
    return _answer(200, ", ".join(outcomes) or "nothing to do")


api = Blueprint("mail_api", __name__, url_prefix="/api")


@api.get("/deliverability")
@staff_required("marketer")
def api_deliverability() -> Response:
    """Sent, bounced, complained and suppressed per sequence and step (``?since=YYYY-MM-DD``)."""
    since = None
    raw = request.args.get("since")
    if raw is not None:
        try:
            since = datetime.combine(date.fromisoformat(raw), time.min, UTC)
        except ValueError:
            abort(400, "`since` must be a date: YYYY-MM-DD")
    return jsonify(deliverability(get_session(), since).as_json())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(api)
    app.extensions["csrf"].exempt(api)  # bearer tokens, as the rest of /api/
