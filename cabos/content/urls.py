"""A document's address on the public site, for every layer that links to one (emails, the demo, the site).

The endpoints named here are the site's routes; naming them is not importing the web layer, and
``url_for`` only needs an app that registered them (or falls back when guides are switched off).
"""

from __future__ import annotations

from flask import current_app, url_for

from cabos.content import Document, current_library

ENDPOINTS = {"article": "public.article", "guide": "guides.landing", "page": "public.page"}


def site_url(path: str = "") -> str:
    """Absolute URL on the public site (canonical links, feed, sitemap, emails)."""
    base = current_app.config["SITE_URL"] or current_library().site.base_url
    return base.rstrip("/") + path


def document_url(doc: Document, external: bool = False) -> str:
    """The path of an article, guide landing or page (absolute with ``external``)."""
    endpoint = ENDPOINTS[doc.kind]
    if doc.kind == "guide" and endpoint not in current_app.view_functions:
        path = url_for("public.home")
    else:
        path = url_for(endpoint, slug=doc.slug)
    return site_url(path) if external else path
