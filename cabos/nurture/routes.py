"""The two links in every nurture email and broadcast: a click redirect and an unsubscribe (RFC 8058 one-click).

``/e/c/<token>``: records the click, stitches the browser to the contact
(consent permitting) and redirects, only to our own site or to a target
written in that email (no open redirect). Bots and old links are redirected
without being recorded.

``/e/u/<token>``: GET (and HEAD) shows a confirmation page and changes nothing (link
scanners open every link in a message); POST unsubscribes. The POST needs no
cookie and no form token (mail clients send ``List-Unsubscribe=One-Click``
from their servers), so it is exempt from CSRF: the signed token is the
authority, and it can only ever unsubscribe the address it was sent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from cabos.contacts.consent import withdraw
from cabos.contacts.models import Contact, Suppression
from cabos.contacts.privacy import email_hash
from cabos.content import current_library
from cabos.content.urls import site_url
from cabos.db import get_session, utcnow
from cabos.intent import hooks as intent_hooks
from cabos.nurture import audience_pages, broadcasts, doubt, handoff, pages, subject_tests
from cabos.nurture.audiences import audiences_of
from cabos.nurture.emails import absolute, trackable
from cabos.nurture.links import TokenError, allowed_target, read_click, read_unsubscribe, same_site
from cabos.nurture.models import BroadcastSend, OutboxMessage
from cabos.nurture.outbox import suppress
from cabos.nurture.sequences import nurture_of
from cabos.tracking.bots import is_bot
from cabos.tracking.identity import identify
from cabos.tracking.models import Event
from cabos.tracking.visitors import current_visitor_id


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def written_targets(email_slug: str, base_url: str, broadcast: bool = False) -> set[str]:
    """The links of an email (or a broadcast) as its author wrote them, made absolute."""
    library = current_library()
    email = (audiences_of(library).broadcasts if broadcast else nurture_of(library).emails).get(email_slug)
    if email is None:
        return set()
    return {absolute(href, base_url) for href in email.template.links if "zzcabos" not in href}


def _with_campaign(url: str, campaign: list[tuple[str, str]]) -> str:
    """Our own pages learn where the reader came from (UTM), unless the author set it already."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.startswith("utm_") for k, _ in query):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query + campaign), parts.fragment))


def _content_of(url: str) -> tuple[str | None, str | None]:
    """('article', slug) when the target is one of our articles."""
    try:
        adapter = current_app.url_map.bind("localhost")
        endpoint, values = adapter.match(urlsplit(url).path, method="GET")
    except HTTPException:
        return None, None
    if endpoint == "public.article" and values.get("slug") in current_library().articles:
        return "article", str(values["slug"])
    return None, None


@dataclass(frozen=True)
class _Sent:
    """What a click needs of the send it came from: an outbox row's or a broadcast send's."""

    contact_id: int
    email: str  # the email's slug, or the broadcast's
    broadcast: bool
    campaign: list[tuple[str, str]]
    data: dict[str, Any]  # what the click event says about the send


def _sent(session: Any, found: Any) -> _Sent | None:
    if found.broadcast:
        send = session.get(BroadcastSend, found.outbox_id)
        if send is None:
            return None
        test = ({"variant": send.variant, "test": subject_tests.broadcast_key(send.broadcast)} if send.tested
                else {"variant": send.variant} if send.variant is not None else {})
        return _Sent(send.contact_id, send.broadcast, True, [("utm_source", "email"), ("utm_medium", "broadcast"),
                     ("utm_campaign", send.broadcast)], {"broadcast": send.broadcast, "send": send.id, **test})
    row = session.get(OutboxMessage, found.outbox_id)
    if row is None:
        return None
    data = row.data or {}
    test = {k: v for k, v in (("variant", data.get("subject")), ("test", data.get("test"))) if v is not None}
    return _Sent(row.contact_id, row.email, False, [("utm_source", "email"), ("utm_medium", "nurture"),
                 ("utm_campaign", row.sequence), ("utm_content", row.step)],
                 {"outbox": row.id, "sequence": row.sequence, "step": row.step, "email": row.email, **test})


def click(token: str) -> Response:
    try:
        found = read_click(current_app.secret_key, token,  # type: ignore[arg-type]
                           int(current_app.config["NURTURE_CLICK_MAX_AGE"]))
    except TokenError:
        abort(404)
    base = site_url()
    session = get_session()
    sent = _sent(session, found)
    written = written_targets(sent.email, base, sent.broadcast) if sent is not None else set()
    if not trackable(found.url) or not allowed_target(found.url, base, written):
        return _private(redirect(base + "/", 302))  # type: ignore[arg-type]
    target = found.url
    if sent is not None and same_site(target, base):
        target = _with_campaign(target, sent.campaign)
    recorded = (sent is not None and found.fresh and request.method == "GET"
                and not is_bot(request.headers.get("User-Agent")))
    if recorded:
        assert sent is not None
        contact = session.get(Contact, sent.contact_id)
        if contact is not None:
            kind, slug = _content_of(found.url) if same_site(found.url, base) else (None, None)
            now = utcnow()
            visitor_id = current_visitor_id(create=True)
            identify(session, visitor_id, contact, via="email_click", now=now)
            doc = current_library().articles.get(slug) if kind == "article" and slug else None
            session.add(Event(type="email_click", occurred_at=now, contact_id=contact.id, visitor_id=visitor_id,
                              content_kind=kind, content_slug=slug, stage=doc.stage if doc else None,
                              problems=list(doc.problems) if doc else [],
                              data={**sent.data, "url": found.url[:1000]}))
            session.flush()
            intent_hooks.after_event(session, contact.id, now)  # the click (and the stitched visits) count now
            session.commit()
    response = _private(redirect(target, 302))  # type: ignore[arg-type]
    response.headers["Referrer-Policy"] = "same-origin"  # the token never leaves for another site
    return response


def _page(state: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template("nurture/unsubscribe.html", state=state, **context), status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return _private(response)


def unsubscribe(token: str) -> Response:
    try:
        # Never refused for age: an old link can still only unsubscribe the address it was sent to.
        grant = read_unsubscribe(current_app.secret_key, token, 10 * 365 * 86400)  # type: ignore[arg-type]
    except TokenError:
        return _page("invalid", 400)
    session = get_session()
    contact = session.get(Contact, grant.contact_id)
    if contact is None or not grant.matches(contact.email):
        # Erased (their address stays suppressed), or the id now belongs to someone else.
        return _page("done")
    if request.method != "POST":  # GET and HEAD (a link scanner's probe) only look
        suppressed = session.get(Suppression, email_hash(contact.email)) is not None
        return _page("done" if suppressed else "confirm", token=token)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    now = utcnow()
    row = session.get(OutboxMessage, grant.outbox_id)
    if session.get(Suppression, email_hash(contact.email)) is None:
        suppress(session, contact, "unsubscribe", now)
        withdraw(session, contact, "one_click" if one_click else "unsubscribe_page", now)  # kept on the record
        session.add(Event(type="consent", occurred_at=now, contact_id=contact.id, data={
            "email": "unsubscribed", "via": "one-click" if one_click else "page",
            **({"outbox": row.id, "sequence": row.sequence, "step": row.step} if row is not None else {})}))
    session.commit()
    return _page("done")


def init_app(app: Flask) -> None:
    """Wire nurture in: the email-link routes (the unsubscribe POST exempt from CSRF, see above), the
    staff page of sends in doubt, and the listeners that stop sequences at purchase mode and handoffs."""
    handoff.connect()
    doubt.init_app(app)
    pages.init_app(app)
    audience_pages.init_app(app)
    broadcasts.init_app(app)
    bp = Blueprint("nurture", __name__, template_folder="templates")
    bp.add_url_rule("/e/c/<token>", "click", click, methods=["GET"])
    bp.add_url_rule("/e/u/<token>", "unsubscribe", unsubscribe, methods=["GET", "POST"])
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(unsubscribe)
