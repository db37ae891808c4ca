"""``/media/<path>``: the images and files of the content folder (see cabos.content.media).

Only files the library indexed are served (never Markdown, YAML, a path outside
the folder or a symbolic link that leads out of it). A request carrying the file's current ``?v=`` may be cached for a
year; any other for five minutes. An SVG opened on its own gets a sandboxing
Content-Security-Policy, so a script inside it cannot run on our origin.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request, send_file

from cabos.content import current_library
from cabos.content.media import MEDIA_PREFIX, leaves

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
YEAR = 365 * 24 * 3600


def media(rel: str) -> Response:
    library = current_library()
    found = library.media.get(rel)
    root = Path(os.path.realpath(current_app.config["CONTENT_DIR"]))
    if found is None:
        # A draft's image: only for whoever has its hash, i.e. the preview page.
        found = library.preview_media.get(rel)
        if found is None or request.args.get("v") != found.version or leaves(root, found.path):
            abort(404)
        response = send_file(found.path, mimetype=found.mimetype, etag=found.version, conditional=True)
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        if found.mimetype == "image/svg+xml":
            response.headers["Content-Security-Policy"] = SVG_POLICY
        return response
    # Checked again here: a file may have been swapped for a link out of the folder since the scan.
    if leaves(root, found.path):
        abort(404)
    current = request.args.get("v") == found.version
    response = send_file(found.path, mimetype=found.mimetype, etag=found.version, conditional=True,
                         max_age=YEAR if current else 300)
    response.cache_control.public = True
    if current:
        response.cache_control.immutable = True
    if found.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = SVG_POLICY
    return response


def init_app(app: Flask) -> None:
    bp = Blueprint("media", __name__)
    bp.add_url_rule(f"{MEDIA_PREFIX}<path:rel>", "file", media, methods=["GET"])
    app.register_blueprint(bp)
