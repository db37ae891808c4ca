"""Guide PDFs read back with pypdf: cover, contents with page numbers, headers, links, footnotes, cache."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader

from cabos.content import current_library, pdf
from cabos.content.pdf import GuidePdfs, OfflineFetcher, guide_pdf, print_footnotes
from tests.conftest import write

FILLER = " ".join(["Cycle counts find errors while they are still small and cheap to fix."] * 40)
GUIDE = f"""\
---
title: Count stock right
summary: Measure accuracy, find causes, keep it high.
problems: [bad-stock]
author: Lucía Ferrer
date: 2026-01-10
cover_color: "#123456"
---
## Measure first

Accuracy by location is what matters[^loc]. Read [the counting article](/articles/counting) and
[jump to the plan](#a-plan-for-ninety-days).

{FILLER}

### Pick a metric

{FILLER}

## Count every day

{FILLER}

## A plan for ninety days

{FILLER}

[^loc]: Value-based accuracy hides errors that cancel out.
"""


@pytest.fixture
def content_dir(make_content) -> Path:  # type: ignore[no-untyped-def]
    return make_content({"guides/count-stock.md": GUIDE})


def _render(app: Flask) -> Path:
    with app.app_context():
        lib = current_library()
        return guide_pdf(lib, lib.guides["count-stock"])


def _texts(reader: PdfReader) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in reader.pages]


@pytest.fixture
def rendered(app: Flask) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(_render(app))
    return reader, _texts(reader)


def test_cover_has_the_title_and_no_running_header(rendered: tuple[PdfReader, list[str]]) -> None:
    reader, texts = rendered
    assert "Count stock right" in texts[0]
    assert "Measure accuracy, find causes, keep it high." in texts[0]
    assert "Test Co" in texts[0] and "Lucía Ferrer" in texts[0]
    assert f"1 / {len(texts)}" not in texts[0]
    assert reader.metadata is not None and reader.metadata.title == "Count stock right"


def test_every_other_page_has_the_running_header_and_its_number(rendered: tuple[PdfReader, list[str]]) -> None:
    _reader, texts = rendered
    assert len(texts) >= 5
    for number, text in enumerate(texts[1:], start=2):
        assert f"{number} / {len(texts)}" in text, number
        assert "Count stock right" in text, number
        assert "Test Co" in text, number


def test_the_contents_list_every_heading_with_the_page_it_is_on(rendered: tuple[PdfReader, list[str]]) -> None:
    reader, texts = rendered
    contents = texts[1]
    assert contents.startswith("Count stock right Test Co Contents") or "Contents" in contents
    headings = ["Measure first", "Pick a metric", "Count every day", "A plan for ninety days"]
    links = {}
    for annot in reader.pages[1]["/Annots"]:
        annot = annot.get_object()
        if "/Dest" in annot:
            links[str(annot["/Dest"])] = reader.get_destination_page_number(reader.named_destinations[annot["/Dest"]])
    for heading in headings:
        # The number printed after the dots is the page where the heading really is...
        after = contents.split(heading, 1)[1].lstrip(" .")
        printed = int(after.split()[0])
        assert heading in texts[printed - 1], heading
        # ...and the entry is a link that jumps there.
        anchor = heading.lower().replace(" ", "-")
        assert links[anchor] == printed - 1, heading
    outline = [item["/Title"] for item in reader.outline if not isinstance(item, list)]
    assert outline == ["Measure first", "Count every day", "A plan for ninety days"]


def test_links_work_and_footnotes_sit_on_their_page(rendered: tuple[PdfReader, list[str]]) -> None:
    reader, texts = rendered
    uris, internal = [], []
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if "/A" in annot and "/URI" in annot["/A"]:
                uris.append(str(annot["/A"]["/URI"]))
            elif "/Dest" in annot:
                internal.append(str(annot["/Dest"]))
    assert "http://localhost/articles/counting" in uris  # relative links made absolute: they work offline
    assert "a-plan-for-ninety-days" in internal
    [page] = [i for i, text in enumerate(texts) if "Accuracy by location is what matters" in text]
    assert "Value-based accuracy hides errors that cancel out." in texts[page]
    assert "Footnotes" not in " ".join(texts) and "↩" not in " ".join(texts)


def test_the_cache_renders_once_and_again_when_the_markdown_changes(app: Flask, content_dir: Path) -> None:
    store = pdf.pdfs(app)
    first = _render(app)
    assert _render(app) == first
    assert store.renders == 1
    write(content_dir, {"guides/count-stock.md": GUIDE.replace("Measure first", "Measure before anything")})
    app.extensions["cabos.content"].maybe_reload()
    second = _render(app)
    assert second != first
    assert store.renders == 2
    assert not first.exists()  # the stale version is gone
    assert "Measure before anything" in " ".join(_texts(PdfReader(second)))


def test_the_cache_follows_the_stylesheet_and_the_template(app: Flask, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "pdf-templates"
    shutil.copytree(pdf.TEMPLATES, templates)
    monkeypatch.setattr(pdf, "TEMPLATES", templates)
    store = GuidePdfs(tmp_path / "cache", tmp_path, tmp_path)
    store.recheck_every = 0  # look at the files on every call
    app.extensions["cabos.pdfs"] = store
    paths = [_render(app)]
    css = templates / "print.css"
    css.write_text(css.read_text() + "\n.body p { text-align: justify; }\n")
    paths.append(_render(app))
    html = templates / "guide.html"
    html.write_text(html.read_text().replace('<p class="cover-kind">', '<p class="cover-kind edition">'))
    paths.append(_render(app))
    assert len(set(paths)) == 3
    assert store.renders == 3


def test_two_requests_for_a_missing_pdf_render_it_once(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    store = pdf.pdfs(app)
    real = store.render

    def slow(rendition):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # long enough for the second request to arrive while the first renders
        return real(rendition)

    monkeypatch.setattr(store, "render", slow)
    results: list[Path] = []
    start = threading.Barrier(2)

    def request() -> None:
        start.wait()
        results.append(_render(app))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert store.renders == 1
    assert [p.name for p in store.folder.glob("*.tmp")] == []


def test_rendering_never_reaches_the_network(tmp_path: Path) -> None:
    static = tmp_path / "static"
    write(static, {"logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"})
    write(tmp_path, {"secret.txt": "no"})
    fetcher = OfflineFetcher({"/static/": static, "": tmp_path / "content"}, "http://localhost")
    assert fetcher.fetch("http://localhost/static/logo.svg").read().startswith(b"<svg")
    for url in ["http://example.com/x.png", "http://localhost/secret.txt",
                "http://localhost/static/../secret.txt", "http://localhost/static/%2e%2e/secret.txt",
                (tmp_path / "secret.txt").as_uri(), "ftp://localhost/x"]:
        with pytest.raises(ValueError):
            fetcher.fetch(url)


def test_footnotes_move_to_the_citing_paragraph() -> None:
    from cabos.content.render import Renderer
    html = Renderer().render("One[^a], two[^b], one again[^a].\n\n[^a]: First *note*.\n[^b]: Second\n\n    more.\n").html
    out = print_footnotes(html)
    assert '<span class="footnote" id="fn1">First <em>note</em>.</span>' in out
    assert '<span class="footnote" id="fn2">Second more.</span>' in out
    assert '<sup class="footnote-again"><a href="#fn1">1</a></sup>' in out
    assert "footnotes-sep" not in out and "footnote-backref" not in out
    assert print_footnotes("<p>No notes.</p>") == "<p>No notes.</p>"


def test_pdf_build_renders_every_guide_once(app: Flask, tmp_path: Path) -> None:
    from cabos.cli import cli
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["pdf", "build"], obj=_script_info(app))
    assert result.exit_code == 0, result.output
    assert "1 rendered" in result.output
    assert len(list((tmp_path / "pdf-cache").glob("count-stock--*.pdf"))) == 1
    again = runner.invoke(cli, ["pdf", "build"], obj=_script_info(app))
    assert "0 rendered, 1 already current" in again.output
    unknown = runner.invoke(cli, ["pdf", "build", "--guide", "nope"], obj=_script_info(app))
    assert unknown.exit_code != 0 and "no published guide 'nope'" in unknown.output


def _script_info(app: Flask):  # type: ignore[no-untyped-def]
    from flask.cli import ScriptInfo
    return ScriptInfo(create_app=lambda *_a: app)


def test_two_instances_render_the_same_bytes(app_factory, content_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Each instance may keep its own PDF cache: a download resumed (Range) on another instance
    # must get the same bytes, so rendering has to be deterministic (no dates, no random ids).
    files = []
    for n in range(2):
        other = app_factory(content_dir, PDF_CACHE_DIR=str(tmp_path / f"cache-{n}"))
        files.append(_render(other).read_bytes())
        time.sleep(1.1)  # a render a second later: any timestamp would differ
    assert files[0] == files[1] and files[0].startswith(b"%PDF")


def test_the_pdf_is_tagged_for_screen_readers(rendered: tuple[PdfReader, list[str]]) -> None:
    """PDF/UA-1: marked content, a structure tree with the headings, the document's language and title shown."""
    reader, _texts = rendered
    root = reader.trailer["/Root"]
    assert root["/MarkInfo"]["/Marked"] is True or root["/MarkInfo"]["/Marked"] == True  # noqa: E712
    assert root["/Lang"] == "en"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    kinds: set[str] = set()

    def walk(node: object, depth: int = 0) -> None:
        node = node.get_object() if hasattr(node, "get_object") else node
        if isinstance(node, dict) and depth < 40:
            if "/S" in node:
                kinds.add(str(node["/S"]))
            kids = node.get("/K")
            for kid in kids if isinstance(kids, list) else [kids] if kids is not None else []:
                walk(kid, depth + 1)

    walk(root["/StructTreeRoot"])
    assert {"/H1", "/H2", "/P"} <= kinds, kinds
