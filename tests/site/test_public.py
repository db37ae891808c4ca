"""Every public route, conditional GETs, feed and sitemap validity, both languages."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cabos.content import current_library

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_home_lists_every_problem(client: FlaskClient, app: Flask) -> None:
    html = client.get("/").get_data(as_text=True)
    with app.test_request_context():
        lib = current_library()
        for problem in lib.problems.values():
            assert f'href="/problemas/{problem.slug}"' in html
            assert problem.name.replace("'", "&#39;") in html
    assert '<html lang="es">' in html
    assert "¿Qué problema quieres resolver?" in html


def test_every_article_problem_and_page_renders(client: FlaskClient, app: Flask) -> None:
    with app.test_request_context():
        lib = current_library()
        urls = [f"/problemas/{p}" for p in lib.problems] + [f"/articulos/{a}" for a in lib.articles]
        urls += [f"/{p}" for p in lib.pages] + ["/articulos/"]
        titles = {f"/articulos/{a.slug}": a.title for a in lib.articles.values()}
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.mimetype == "text/html"
        if url in titles:
            assert f'<link rel="canonical" href="http://localhost{url}">' in resp.get_data(as_text=True)


def test_article_page_has_toc_reading_time_related_and_og(client: FlaskClient, app: Flask) -> None:
    with app.test_request_context():
        lib = current_library()
        doc = next(a for a in lib.articles.values() if len(a.toc) > 1 and lib.related(a))
        related = lib.related(doc)
    html = client.get(f"/articulos/{doc.slug}").get_data(as_text=True)
    assert f'<a href="#{doc.toc[0].anchor}">' in html
    assert f"{doc.reading_minutes} min de lectura" in html
    assert f'href="/articulos/{related[0].slug}"' in html
    assert '<meta property="og:type" content="article">' in html
    assert "Sigue leyendo" in html


def test_unknown_pages_get_the_404_page(client: FlaskClient) -> None:
    for url in ["/articulos/no-existe", "/problemas/no-existe", "/no-existe", "/articulos/%2e%2e%2fsite.yml"]:
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert "No hemos encontrado esa página" in resp.get_data(as_text=True)


def test_404_as_json_for_programs(client: FlaskClient) -> None:
    resp = client.get("/no-existe", headers={"Accept": "application/json"})
    assert resp.status_code == 404 and resp.json == {"error": "Not Found", "status": 404,
                                                      "detail": resp.json["detail"]}


def test_etag_and_last_modified_give_304(client: FlaskClient) -> None:
    first = client.get("/")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = client.get("/", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    stale = client.get("/", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


def test_etag_changes_when_content_changes(make_content, app_factory) -> None:
    root = make_content({"articles/a.md": "---\ntitle: A\nproblems: [slow-orders]\n---\nOne"})
    app = app_factory(root, CONTENT_RELOAD=True)
    client = app.test_client()
    etag = client.get("/articles/a").headers["ETag"]
    (root / "articles/a.md").write_text("---\ntitle: A changed\nproblems: [slow-orders]\n---\nTwo")
    app.extensions["cabos.content"].maybe_reload()
    resp = client.get("/articles/a", headers={"If-None-Match": etag})
    assert resp.status_code == 200 and "A changed" in resp.get_data(as_text=True)


def test_sitemap_is_valid_and_complete(client: FlaskClient, app: Flask) -> None:
    resp = client.get("/sitemap.xml")
    assert resp.mimetype == "application/xml"
    root = ET.fromstring(resp.data)
    locs = {u.find(f"{SITEMAP}loc").text for u in root.findall(f"{SITEMAP}url")}
    with app.test_request_context():
        lib = current_library()
        expected = {f"http://localhost/articulos/{a}" for a in lib.articles}
        expected |= {f"http://localhost/problemas/{p}" for p in lib.problems} | {"http://localhost/"}
    assert expected <= locs


def test_feed_is_valid_atom(client: FlaskClient, app: Flask) -> None:
    resp = client.get("/feed.xml")
    assert resp.mimetype == "application/atom+xml"
    root = ET.fromstring(resp.data)
    assert root.tag == f"{ATOM}feed"
    for required in ("title", "id", "updated"):
        assert root.find(f"{ATOM}{required}") is not None
    entries = root.findall(f"{ATOM}entry")
    with app.test_request_context():
        newest = next(iter(current_library().articles.values()))
    assert entries and entries[0].find(f"{ATOM}title").text == newest.title
    for entry in entries:
        for required in ("title", "id", "updated", "link", "author"):
            assert entry.find(f"{ATOM}{required}") is not None


def test_robots_points_to_sitemap(client: FlaskClient) -> None:
    body = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in body and "Disallow: /staff/" in body


def test_brand_css_comes_from_site_yml(client: FlaskClient, app: Flask) -> None:
    css = client.get("/brand.css").get_data(as_text=True)
    with app.test_request_context():
        assert f"--primary:{current_library().site.brand.primary}" in css


@pytest.mark.parametrize("language, strings, paths", [
    ("en", ["Which problem are you working on?", "min read"], ["/problems/slow-orders", "/articles/a"]),
    ("es", ["¿Qué problema quieres resolver?", "min de lectura"], ["/problemas/slow-orders", "/articulos/a"]),
])
def test_interface_language_follows_site_yml(make_content, app_factory, language, strings, paths) -> None:
    root = make_content({"articles/a.md": "---\ntitle: A\nproblems: [slow-orders]\n---\n## x\n\ny"}, language=language)
    client = app_factory(root).test_client()
    home = client.get("/").get_data(as_text=True)
    assert f'<html lang="{language}">' in home
    assert strings[0] in home
    for path in paths:
        assert client.get(path).status_code == 200, path
    assert strings[1] in client.get(paths[1]).get_data(as_text=True)


def test_drafts_are_not_served(make_content, app_factory) -> None:
    root = make_content({"articles/d.md": "---\ntitle: D\ndraft: true\nproblems: [slow-orders]\n---\nx"})
    assert app_factory(root).test_client().get("/articles/d").status_code == 404


def test_site_survives_a_broken_file(make_content, app_factory) -> None:
    root = make_content({"articles/ok.md": "---\ntitle: OK\n---\nx", "articles/bad.md": "---\ntitle: [\n---\n"})
    client = app_factory(root).test_client()
    assert client.get("/articles/ok").status_code == 200
    assert client.get("/articles/bad").status_code == 404
