"""Signed, expiring preview links for drafts and scheduled pieces, and the staff content page.

A reviewer who does not run cabos opens ``/preview/<token>``: the token names the
piece's file (``articles/x.md``), signed with SECRET_KEY under a salt used only for
this, and expires after PREVIEW_LINK_MAX_AGE. It shows the file as it is now (an
edit made after the link was sent is what the reviewer sees), is never cached or
indexed, and carries no tracker: a preview is not a reading.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import click
from flask import Blueprint, Flask, Response, abort, current_app, render_template, url_for
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from cabos.content import Document, current_library
from cabos.content.library import Library
from cabos.content.urls import site_url
from cabos.db import utcnow
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section

SALT = "cabos.preview"
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-.]{1,512}$")
ROLES = ("marketer",)  # and admins


@lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, source: str) -> str:
    return _serializer(secret).dumps({"s": source})


def read_token(secret: str, token: str, max_age: int) -> tuple[str | None, bool]:
    """(the file the token names, expired?); (None, False) for anything forged or cut."""
    if not TOKEN_SHAPE.match(token):
        return None, False
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except SignatureExpired:
        return None, True
    except BadSignature:
        return None, False
    source = data.get("s") if isinstance(data, dict) else None
    return (source, False) if isinstance(source, str) else (None, False)


def preview_url(source: str) -> str:
    """The absolute preview link of a piece, valid PREVIEW_LINK_MAX_AGE from now."""
    token = make_token(current_app.secret_key, source)  # type: ignore[arg-type]
    return site_url(url_for("previews.show", token=token))


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def show(token: str) -> Response:
    source, expired = read_token(current_app.secret_key, token,  # type: ignore[arg-type]
                                 int(current_app.config["PREVIEW_LINK_MAX_AGE"]))
    if expired:
        return _private(Response(render_template("public/preview_expired.html"), status=410))
    lib = current_library()
    doc = lib.any_document(source) if source else None
    if doc is None:
        abort(404)
    return _private(Response(render_template("public/preview.html", doc=doc, status=_status(lib, doc))))


def _status(lib: Library, doc: Document) -> str:
    if doc.draft:
        return "draft"
    return "scheduled" if doc in lib.scheduled else "published"


@staff_required(*ROLES)
def content_page() -> str:
    """Drafts and scheduled pieces, each with a preview link to send to a reviewer."""
    lib = current_library()
    rows = [(d, "scheduled", preview_url(d.source)) for d in lib.scheduled]
    rows += [(d, "draft", preview_url(d.source)) for d in sorted(lib.drafts, key=lambda d: d.source)]
    hours = int(current_app.config["PREVIEW_LINK_MAX_AGE"]) // 3600
    return render_template("staff/content.html", rows=rows, lib=lib, hours=hours, now=utcnow())


@click.command("preview")
@click.argument("file")
@with_appcontext
def preview_command(file: str) -> None:
    """Print a signed preview link for FILE (e.g. articles/x.md), a draft or a scheduled piece."""
    lib = current_app.extensions["cabos.content"].current()
    source = _relative(file)
    doc = lib.any_document(source)
    if doc is None:
        raise click.ClickException(f"{file}: no article, guide or page with this file in the content folder "
                                   "(or it has errors: run `cabos check`)")
    with current_app.test_request_context():
        url = preview_url(doc.source)
    status = _status(lib, doc)
    when = f" (goes live {doc.release_at:%Y-%m-%d %H:%M} UTC)" if status == "scheduled" and doc.release_at else ""
    hours = int(current_app.config["PREVIEW_LINK_MAX_AGE"]) // 3600
    click.echo(f"{doc.source}: {status}{when}; link valid for {hours} hours:")
    click.echo(url)


def _relative(file: str) -> str:
    """``content/articles/x.md``, ``./articles/x.md`` or an absolute path → ``articles/x.md``."""
    root = Path(current_app.config["CONTENT_DIR"]).resolve()
    path = Path(file)
    resolved = path.resolve() if path.exists() or path.is_absolute() else (root / path).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix().lstrip("./")


def init_app(app: Flask) -> None:
    """Register /preview/<token> and the staff content page."""
    bp = Blueprint("previews", __name__)
    bp.add_url_rule("/preview/<token>", "show", show, methods=["GET"])
    bp.add_url_rule("/staff/content", "content", content_page, methods=["GET"])
    app.register_blueprint(bp)
    add_section(app, "previews.content", _l("Content"), ROLES, order=15,
                description=_l("Drafts and scheduled pieces, with preview links for reviewers"))

