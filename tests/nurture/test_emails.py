"""Rendering: one Markdown source, two parts that say the same, tags filled and escaped, links signed."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit

from flask import Flask
from flask_babel import force_locale

from cabos.content.model import Brand
from cabos.nurture.emails import Values, compile_body, render_body
from cabos.nurture.links import read_click, read_unsubscribe
from cabos.nurture.outbox import Composer
from tests.conftest import SECRET
from tests.nurture.conftest import add_contact


def compose(app: Flask, session, name: str = "Ana López", company: str = "Almacenes Ana",  # type: ignore[no-untyped-def]
            email: str = "welcome", data: dict | None = None):
    with app.app_context():
        composer = Composer(app, app.extensions["cabos.content"].current())
        contact = add_contact(session, name=name, company=company)
        values = composer.values(contact, data or {})
        return composer.compose(41, email, contact, values), contact


def parts(message):  # type: ignore[no-untyped-def]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_a_message_has_both_parts_from_the_same_markdown(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session)
    message = composed.message
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    for words in ("Hello Ana from", "Almacenes Ana", "Count 50 random locations", "the basics", "one", "two"):
        assert words in text and words in html
    assert "<strong>Almacenes Ana</strong>" in html
    assert "- one\n- two" in text
    assert message["Subject"] == "Your stock guide, Ana"


def test_html_is_styled_inline_with_the_brand_and_readable_on_phones(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session)
    html = composed.html
    brand = Brand()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "max-width:600px" in html
    assert f"color:{brand.primary}" in html and "<style" not in html and "class=" not in html
    assert re.search(r'<p style="[^"]+">', html) and re.search(r'<a href="[^"]+" style="[^"]+">', html)
    assert "Start with one number." in html  # the preheader, hidden at the top


def test_contact_values_are_escaped_in_html_and_plain_in_text(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session, name="<script>x</script> Bob", company="A & B [link](http://evil.example)")
    text, html = parts(composed.message)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "A &amp; B [link](http://evil.example)" in html and 'href="http://evil.example' not in html
    assert "Hello <script>x</script> from" in text


def test_fallbacks_fill_empty_values(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session, name="", company="")
    text, _html = parts(composed.message)
    assert composed.subject == "Your stock guide, friend"
    assert text.startswith("Hello there from")


def test_every_link_is_a_signed_redirect_to_what_the_author_wrote(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session)
    text, html = parts(composed.message)
    assert composed.targets == ("http://localhost/articles/stock-basics", "https://partner.example/tool?ref=cabos&x=1")
    hrefs = re.findall(r'<a href="([^"]+)"', html)
    tracked = [h.replace("&amp;", "&") for h in hrefs if "/e/c/" in h]
    assert len(tracked) == 2
    for url, target in zip(tracked, composed.targets, strict=True):
        assert url.startswith("http://localhost/e/c/")
        click = read_click(SECRET, urlsplit(url).path.rsplit("/", 1)[1], 3600)
        assert click.outbox_id == 41 and click.url == target
        assert url in text
    assert "partner.example" not in html.replace("&amp;", "&").split("/e/c/")[0]


def test_unsubscribe_headers_follow_rfc_8058_without_the_address(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, contact = compose(app, session)
    message = composed.message
    header = message["List-Unsubscribe"]
    assert re.fullmatch(r"<http://localhost/e/u/[A-Za-z0-9_\-.]+>", header)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Neither the address nor its local part, in the URL or in the token's payload ("ana" alone may turn up
    # by chance in the random-looking signature, 1 in a few hundred runs: the payload is what matters).
    payload = header[1:-1].rsplit("/", 1)[1].split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().lower()
    assert decoded.startswith("{") and "ana" not in decoded and "example.com" not in decoded
    assert "%40" not in header and "@" not in header and "example.com" not in header
    grant = read_unsubscribe(SECRET, header[1:-1].rsplit("/", 1)[1], 60)
    assert (grant.outbox_id, grant.contact_id) == (41, contact.id) and grant.matches(contact.email)
    assert header[1:-1] in parts(message)[0] and header[1:-1] in composed.html  # and in the footer
    assert message["X-Cabos-Outbox"] == "41" and message["Message-ID"]
    assert b"=?utf-8?" not in message.as_bytes().split(b"List-Unsubscribe:")[1].split(b"\n")[0]


def test_next_article_becomes_a_link_with_its_title(app: Flask, session) -> None:  # type: ignore[no-untyped-def]
    composed, _ = compose(app, session, email="next", data={"article": "stock-count"})
    text, html = parts(composed.message)
    assert composed.subject == "Next: Stock count"
    assert "http://localhost/articles/stock-count" in composed.targets
    assert re.search(r'Read <a href="http://localhost/e/c/[^"]+" style="[^"]+">Stock count</a> next', html)
    assert "About stock count." in text and "Read Stock count (http://localhost/e/c/" in text


def test_plain_text_keeps_structure() -> None:
    template = compile_body("# Title\n\nPara with [a link](https://x.example/) and `code`.\n\n"
                            "1. first\n2. second\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", Brand())
    body = render_body(template, Values(), "http://site.example", lambda u: u)
    assert body.text == ("Title\n\nPara with a link (https://x.example/) and code.\n\n1. first\n2. second\n\n"
                         "> quoted\n\na | b\n1 | 2\n")


def test_site_paths_in_images_get_the_site_address_and_other_sites_are_left_alone() -> None:
    template = compile_body("![a](/media/a.png) ![b](//cdn.example/b.png) ![c](https://img.example/c.png)\n", Brand())
    body = render_body(template, Values(), "https://www.example.test/", lambda u: u)
    assert 'src="https://www.example.test/media/a.png"' in body.html
    assert 'src="//cdn.example/b.png"' in body.html and 'src="https://img.example/c.png"' in body.html


def test_images_and_md_links_from_the_content_folder_get_whole_addresses(app_factory, make_content,  # type: ignore[no-untyped-def]
                                                                          session) -> None:
    from tests.content.test_media import png
    from tests.nurture.conftest import FILES

    body = ("---\nsubject: Hola\npreheader: P\n---\n![Logo](img/logo.png)\n\nRead [the basics](../articles/stock-basics.md#part)"
            " and ![gone](img/gone.png)\n")
    root = make_content({**FILES, "emails/welcome.md": body, "emails/img/logo.png": png()})
    app = app_factory(root, SITE_URL="https://www.example.test")
    with app.app_context():
        library = app.extensions["cabos.content"].current()
        logo = library.media["emails/img/logo.png"].url
        composed, _ = compose(app, session)
    _text, html = parts(composed.message)
    assert f'src="https://www.example.test{logo}"' in html.replace("&amp;", "&")
    assert composed.targets == ("https://www.example.test/articles/stock-basics#part",)
    assert [str(i) for i in library.warnings if i.file == "emails/welcome.md"] == [
        "emails/welcome.md: warning: refers to 'img/gone.png', which is not in the content folder "
        "(looked for emails/img/gone.png or img/gone.png)"]


def test_the_layout_rendered_once_per_language_gives_what_rendering_it_each_time_gives(app: Flask) -> None:
    with app.app_context():
        composer = Composer(app, app.extensions["cabos.content"].current())
        template, site = app.jinja_env.get_template("nurture/email.html"), composer.library.site
        values = {"subject": "<b>Tú & \"yo\"</b>", "preheader": "a < b zzcabossubjectzz",
                  "body": "<p>Hola &amp; <em>adiós</em></p>", "unsubscribe_url": "https://x.example/u?a=1&b='2'"}
        seen = set()
        for locale in ("en", "es", "en"):
            with force_locale(locale):
                direct = template.render(**values, site=site, brand=site.brand, base_url=composer.base_url)
                assert composer.layout.render(**values) == direct
                seen.add(direct)
        assert len(seen) == 2  # the two languages differ (the cached skeletons are per language)
