"""Images, files and links to other Markdown files, resolved against the content folder at load time."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from cabos.content.loader import LibraryLoader, load_library
from cabos.content.media import MEDIA_PREFIX


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (browsers and WeasyPrint decode it), made here so no binary file is checked in."""
    raw = b"".join(b"\x00" + b"\x0f\x4c\x5c" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def article(body: str, **front: str) -> str:
    extra = "".join(f"{k}: {v}\n" for k, v in front.items())
    return f"---\ntitle: A\nsummary: S\nproblems: [slow-orders]\nstage: learn\ndate: 2026-01-02\n{extra}---\n{body}\n"


def warnings(lib) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(i) for i in lib.issues if i.severity == "warning"]


def test_images_next_to_the_article_at_the_root_and_under_hugo_static(make_content) -> None:
    lib = load_library(make_content({
        "articles/a.md": article("![plano](img/plano.png \"Plano\")\n\n![logo](/images/logo.png)\n\n"
                                 "![root](/assets/x.png)\n\n<img src='img/plano.png' alt=\"raw\">"),
        "articles/img/plano.png": png(), "static/images/logo.png": png(2, 2), "assets/x.png": png(3, 3),
    }))
    media = lib.media
    assert set(media) == {"articles/img/plano.png", "static/images/logo.png", "assets/x.png"}
    html = lib.articles["a"].html
    for rel in media:
        assert f'src="{MEDIA_PREFIX}{rel}?v={media[rel].version}"' in html, html
    assert html.count("/media/articles/img/plano.png?v=") == 2  # the raw-HTML <img> as well
    assert 'title="Plano"' in html and warnings(lib) == []


def test_links_to_markdown_files_become_addresses_in_the_sites_language(make_content) -> None:
    files = {"articles/a.md": article("[b](b.md#part-2), [g](../guides/g.md), [p](/pages/about.md) and "
                                      "[web](https://example.com/x.md), [route](/precios)"),
             "articles/b.md": article("B"), "guides/g.md": article("G"), "pages/about.md": "---\ntitle: About\n---\nx"}
    html = load_library(make_content(files, language="es")).articles["a"].html
    assert 'href="/articulos/b#part-2"' in html and 'href="/guias/g"' in html and 'href="/about"' in html
    assert 'href="https://example.com/x.md"' in html and 'href="/precios"' in html
    assert 'href="/articles/b#part-2"' in load_library(make_content(files, language="en")).articles["a"].html


def test_what_is_not_there_is_a_warning_naming_document_reference_and_places(make_content) -> None:
    lib = load_library(make_content({
        "articles/a.md": article("![x](img/missing.jpg) [y](nowhere.md) [z](../../etc/passwd.png) [d](d.md)",
                                 cover="img/cover.png"),
        "articles/d.md": article("draft", draft="true"),
    }))
    assert warnings(lib) == [
        "articles/a.md: warning: refers to 'img/missing.jpg', which is not in the content folder "
        "(looked for articles/img/missing.jpg or img/missing.jpg)",
        "articles/a.md: warning: links to 'nowhere.md', which is not an article, guide or page in the content folder",
        "articles/a.md: warning: refers to '../../etc/passwd.png', which points outside the content folder",
        "articles/a.md: warning: links to articles/d.md, a draft: the link is broken until it is published",
        "articles/a.md: warning [cover]: refers to 'img/cover.png', which is not in the content folder "
        "(looked for articles/img/cover.png or img/cover.png)",
    ]
    assert 'src="img/missing.jpg"' in lib.articles["a"].html  # left as written


def test_markdown_yaml_and_hidden_files_are_never_media(make_content) -> None:
    lib = load_library(make_content({"articles/a.md": article("[s](../site.yml) ![h](.secret.png)"),
                                     ".secret.png": png(), ".git/x.png": png(), "notes.txt": "private"}))
    assert dict(lib.media) == {}
    assert "/media/" not in lib.articles["a"].html


def test_a_changed_image_changes_its_address_and_the_documents_digest(make_content) -> None:
    root = make_content({"articles/a.md": article("![p](p.png)"), "articles/p.png": png(2, 2)})
    loader = LibraryLoader(root)
    first = loader.load()
    (root / "articles/p.png").write_bytes(png(5, 5))
    st = os.stat(root / "articles/p.png")
    os.utime(root / "articles/p.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = loader.load()
    assert first.media["articles/p.png"].version != second.media["articles/p.png"].version
    assert first.articles["a"].digest != second.articles["a"].digest  # page ETags and caches follow
    assert second.media["articles/p.png"].version in second.articles["a"].html
    assert first.version != second.version


def test_a_cover_in_the_content_folder_gets_its_media_address(make_content, tmp_path: Path) -> None:
    lib = load_library(make_content({"guides/g.md": article("G", cover="portada.png"), "guides/portada.png": png()}))
    assert lib.guides["g"].cover == lib.media["guides/portada.png"].url


def test_what_the_content_security_policy_would_block_is_a_warning(make_content) -> None:
    body = ("<iframe src=\"https://www.youtube-nocookie.com/embed/x\"></iframe>\n\n"
            "![cdn](https://cdn.example.com/a.png) ![plain](http://img.example.com/b.png)\n\n"
            "<video src='https://media.example.org/v.mp4'></video>\n\n<script src=\"/x.js\"></script>\n\n"
            "<object data=\"x.swf\"></object>\n\n![ours](https://example.test/logo.png)")
    lib = load_library(make_content({"articles/a.md": article(body)}))
    found = warnings(lib)
    assert len(found) == 6, found
    assert "add https://www.youtube-nocookie.com to embeds.frames in site.yml" in found[0]
    assert "copy the file into the content folder, or add https://cdn.example.com to embeds.images" in found[1]
    assert "use its https address" in found[2]
    assert "embeds.media" in found[3] and "<script>, which never runs" in found[4] and "<object>" in found[5]

    site = ("name: T\nlanguage: en\nembeds:\n  frames: [https://www.youtube-nocookie.com]\n"
            "  images: ['https://*.example.com', 'https://example.test/']\n  media: [https://media.example.org]\n")
    lib = load_library(make_content({"site.yml": site, "articles/a.md": article(body)}))
    assert lib.site.embeds.images == ("https://*.example.com", "https://example.test")
    left = warnings(lib)
    assert len(left) == 3 and "http://img.example.com" in left[0], left  # https only


def test_a_guides_outside_image_is_not_in_its_pdf_and_says_so(make_content) -> None:
    site = "name: T\nlanguage: en\nembeds:\n  images: [https://cdn.example.com]\n"
    lib = load_library(make_content({"site.yml": site, "guides/g.md": article("![x](https://cdn.example.com/a.png)"),
                                     "articles/a.md": article("![x](https://cdn.example.com/a.png)")}))
    assert warnings(lib) == ["guides/g.md: warning: shows 'https://cdn.example.com/a.png' from https://cdn.example.com: "
                             "it is on the page but not in the PDF (PDFs are made offline, from the content folder)"]


def test_embeds_in_site_yml_must_be_https_origins(make_content) -> None:
    site = "name: T\nlanguage: en\nembeds:\n  frames: [youtube.com, 'https://x.example/path']\n  videos: []\n"
    errors = [str(i) for i in load_library(make_content({"site.yml": site})).errors]
    assert errors == ["site.yml:3: error [embeds]: embeds.videos is not known; use images, frames or media",
                      "site.yml:3: error [embeds]: embeds.frames 'youtube.com' is not a site address like "
                      "https://www.youtube-nocookie.com (https, a host name, nothing after it)"]


def test_only_what_published_pieces_refer_to_is_served(make_content) -> None:
    lib = load_library(make_content({
        "articles/a.md": article("![p](p.png)"), "articles/p.png": png(),
        "articles/d.md": article("![secret](plan.png)", draft="true"), "articles/plan.png": png(2, 2),
        "guides/g.md": article("G"), "guides/the-gated-guide.pdf": b"%PDF-1.7 the designer's version",
    }))
    assert list(lib.media) == ["articles/p.png"]  # not the draft's image, not the guide's PDF
    assert "/media/articles/plan.png?v=" in lib.drafts[0].html  # resolved, ready for publishing


def test_srcset_candidates_are_resolved_one_by_one(make_content) -> None:
    lib = load_library(make_content({
        "articles/a.md": article('<img src="p.png" srcset="p.png 1x, p@2x.png 2x, gone.png 3x" alt="p">'),
        "articles/p.png": png(), "articles/p@2x.png": png(8, 6)}))
    one, two = lib.media["articles/p.png"].url, lib.media["articles/p@2x.png"].url
    assert f'srcset="{one} 1x, {two} 2x, gone.png 3x"' in lib.articles["a"].html.replace("&amp;", "&")
    assert [w for w in warnings(lib) if "gone.png" in w]
