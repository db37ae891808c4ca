"""/media/: the content folder's images and files on the site, in guide PDFs and in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from cabos.content import current_library
from cabos.content.pdf import guide_pdf
from tests.conftest import CabosRunner
from tests.content.test_media import article, png

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script>'
       '<rect width="10" height="10" fill="#e36414"/></svg>')


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    return make_content({
        "articles/stock.md": article("## Plano\n\n![Plano del almacén](img/plano.png)\n\n![icono](/icono.svg)\n\n"
                                     "[la guía](../guides/count.md)"),
        "articles/img/plano.png": png(40, 20), "icono.svg": SVG, "articles/img/unused.png": png(),
        "guides/count-designer-version.pdf": b"%PDF-1.7 the gated guide, not behind its form",
        "guides/count.md": article("## Uno\n\n![Plano](../articles/img/plano.png)\n\nTexto.", cover_color='"#123456"'),
    })


def media_url(app: Flask, rel: str) -> str:
    with app.app_context():
        return current_library().media[rel].url


def test_an_image_is_served_with_its_type_and_kept_a_year_at_its_versioned_address(app: Flask,
                                                                                    client: FlaskClient) -> None:
    url = media_url(app, "articles/img/plano.png")
    page = client.get("/articles/stock").get_data(as_text=True)
    assert f'src="{url}"' in page and 'href="/guides/count"' in page
    with client.get(url) as resp:
        assert resp.status_code == 200 and resp.mimetype == "image/png"
        assert resp.data == png(40, 20)
        assert resp.cache_control.max_age == 365 * 24 * 3600 and resp.cache_control.immutable
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    with client.get(url, headers={"If-None-Match": resp.headers["ETag"]}) as again:
        assert again.status_code == 304
    with client.get(url.split("?")[0] + "?v=old") as stale:  # an address from before the file changed
        assert stale.status_code == 200 and stale.cache_control.max_age == 300 and not stale.cache_control.immutable


@pytest.mark.parametrize("path", ["/media/articles/stock.md", "/media/site.yml", "/media/problems.yml",
                                  "/media/../site.yml", "/media/articles/img/../../site.yml",
                                  "/media/articles/img/missing.png", "/media/%2e%2e/%2e%2e/etc/passwd",
                                  "/media/articles/img/unused.png", "/media/guides/count-designer-version.pdf"])
def test_only_indexed_media_is_served(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_an_svg_opened_alone_cannot_run_its_script(app: Flask, client: FlaskClient) -> None:
    with client.get(media_url(app, "icono.svg")) as resp:
        assert resp.mimetype == "image/svg+xml"
        policy = resp.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script-src" not in policy


def test_a_guides_pdf_embeds_the_image_from_the_content_folder(app: Flask) -> None:
    with app.app_context():
        lib = current_library()
        path = guide_pdf(lib, lib.guides["count"])
    images = [img for p in PdfReader(path).pages for img in p.images]  # pages share one resource list
    assert images and {img.image.size for img in images} == {(40, 20)}


@pytest.mark.slow
def test_a_browser_shows_the_images_under_the_sites_content_security_policy(app: Flask, live_server,
                                                                            chromium) -> None:
    page = chromium.new_page()
    try:
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{live_server.url}/articles/stock")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    finally:
        page.close()
    assert sorted(sizes) == [10, 40], sizes  # the PNG and the SVG both drawn
    assert refused == []


def test_the_content_security_policy_allows_exactly_the_embeds_of_site_yml(app_factory, make_content) -> None:
    site = ("name: T\nlanguage: en\nembeds:\n  frames: [https://www.youtube-nocookie.com]\n"
            "  images: [https://cdn.example.com]\n")
    plain = app_factory(make_content({})).test_client().get("/").headers["Content-Security-Policy"]
    assert "frame-src" not in plain and "img-src 'self' data:;" in plain
    policy = app_factory(make_content({"site.yml": site})).test_client().get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-src"] == "'self' https://www.youtube-nocookie.com"
    assert directives["img-src"] == "'self' data: https://cdn.example.com"
    assert directives["script-src"] == "'self'" and "media-src" not in directives


class TestPlayersWaitForTheReader:
    @pytest.fixture
    def content_dir(self, make_content) -> Path:  # type: ignore[no-untyped-def]
        site = "name: T\nlanguage: es\nembeds:\n  frames: [https://www.youtube-nocookie.com]\n"
        return make_content({"site.yml": site, "articles/video.md": article("Mira:\n\n{{< youtube abc123 >}}\n")},
                            language="es")

    @pytest.mark.slow
    def test_a_video_from_another_site_loads_only_when_the_reader_asks(self, live_server, chromium) -> None:  # type: ignore[no-untyped-def]
        page = chromium.new_page()
        try:
            asked: list[str] = []
            page.route("https://www.youtube-nocookie.com/**", lambda route: (
                asked.append(route.request.url),
                route.fulfill(status=200, content_type="text/html", body="<p>the player</p>")))
            page.goto(f"{live_server.url}/articulos/video")
            button = page.get_by_role("button", name="Mostrar el contenido de www.youtube-nocookie.com")
            button.wait_for()
            assert "recibe tu dirección IP" in page.locator(".embed-ask p").inner_text()
            page.wait_for_timeout(300)
            assert asked == [] and not page.locator("iframe").is_visible()
            button.click()
            page.wait_for_function("document.querySelector('iframe').src.includes('abc123')")
            assert page.frame_locator("iframe").locator("p").inner_text() == "the player"
            assert asked == ["https://www.youtube-nocookie.com/embed/abc123"]
            assert page.locator(".embed-ask").count() == 0
        finally:
            page.close()


def test_a_symbolic_link_out_of_the_content_folder_is_never_served_and_check_names_it(
        app_factory, make_content, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "cabos.sqlite3"
    secret.write_bytes(b"SQLite format 3\x00 password hashes")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.png").write_bytes(png())
    (elsewhere / "post.md").write_text(article("stolen text"), encoding="utf-8")
    root = make_content({"articles/a.md": article("![db](db.png) ![x](linked/x.png) ![p](inside.png)"),
                         "articles/real.png": png()})
    (root / "articles/db.png").symlink_to(secret)
    (root / "articles/linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "articles/inside.png").symlink_to(root / "articles/real.png")  # inside the folder: fine
    (root / "articles/post.md").symlink_to(elsewhere / "post.md")
    app = app_factory(root)
    client = app.test_client()
    assert client.get("/media/articles/db.png").status_code == 404
    assert client.get("/media/articles/linked/x.png").status_code == 404
    assert client.get("/articles/post").status_code == 404
    with client.get(media_url(app, "articles/inside.png")) as inside:
        assert inside.data == png()
    result = CabosRunner(app).invoke(args=["check"])
    assert result.exit_code != 0
    for rel in ("articles/db.png", "articles/linked", "articles/post.md"):
        assert f"{rel}" in result.output and "outside the content folder" in result.output
    assert "articles/inside.png: " not in result.output


def test_a_media_file_swapped_for_a_link_after_loading_is_not_served(app: Flask, client: FlaskClient,
                                                                       content_dir: Path, tmp_path: Path) -> None:
    url = media_url(app, "articles/img/plano.png")
    target = content_dir / "articles/img/plano.png"
    target.unlink()
    (tmp_path / "private.key").write_bytes(b"-----BEGIN PRIVATE KEY-----")
    target.symlink_to(tmp_path / "private.key")
    assert client.get(url).status_code == 404
