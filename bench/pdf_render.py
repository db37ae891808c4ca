"""First render of a 10-page guide: cabos' PDF pipeline vs WeasyPrint alone on the same HTML.

    .venv/bin/python bench/pdf_render.py [--rounds 5]

cabos' side is what a download of a missing PDF costs: the template, the cache key,
the lock, WeasyPrint, the atomic write. The baseline hands the very same HTML
to WeasyPrint and keeps the bytes in memory. Rounds alternate and the medians
are compared. Goal: ratio <= 1.15.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import weasyprint
from pypdf import PdfReader

from _harness import machine

from cabos.content import current_library
from cabos.content.pdf import guide_pdf, pdfs
from cabos.site import create_app

PARAGRAPH = ("A cycle count finds an error while it is still small: one location, one reference, one day "
             "of movements to explain. The annual count finds the same error eleven months later, mixed with "
             "hundreds of others, when nobody remembers what happened. ")


def guide_markdown(chapters: int = 4) -> str:
    parts = ["---", "title: Inventory that adds up, a benchmark guide", "summary: Measure, count, fix.",
             "date: 2026-01-10", "author: Bench", "problems: [stock]", 'cover_color: "#0f4c5c"', "---", ""]
    for c in range(1, chapters + 1):
        parts.append(f"## {c}. Chapter {c}\n")
        for s in range(1, 4):
            parts.append(f"### Section {c}.{s}\n")
            parts.append((PARAGRAPH * 3) + f"See note[^n{c}{s}].\n")
            parts.append("| Metric | Formula | Use |\n|---|---|---|\n" +
                         "| Accuracy | right / counted | daily |\n" * 4)
            parts.append(f"[^n{c}{s}]: A footnote for section {c}.{s}.\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    content = tmp / "content"
    (content / "guides").mkdir(parents=True)
    (content / "site.yml").write_text("name: Bench\nlanguage: en\nbase_url: http://bench.test\n")
    (content / "problems.yml").write_text("- {slug: stock, name: Stock}\n")
    (content / "guides" / "bench.md").write_text(guide_markdown())
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
                      "CONTENT_DIR": str(content), "PDF_CACHE_DIR": str(tmp / "cache")})
    ours, bare = [], []
    with app.app_context():
        lib = current_library()
        doc = lib.guides["bench"]
        store = pdfs()
        rendition = store.rendition(doc, lib.site, "http://bench.test")
        # Warm both paths once (fontconfig, Pango, imports) before measuring either.
        weasyprint.HTML(string=rendition.html, base_url="http://bench.test/").write_pdf()
        path = guide_pdf(lib, doc)
        pages = len(PdfReader(path).pages)
        for _ in range(args.rounds):
            shutil.rmtree(store.folder)
            store._memo.clear()  # a cold first render: template and key computed again too
            t = time.perf_counter()
            guide_pdf(lib, doc)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            weasyprint.HTML(string=rendition.html, base_url="http://bench.test/").write_pdf()
            bare.append(time.perf_counter() - t)
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"machine: {machine()}; guide: {pages} pages, {path.stat().st_size:,} bytes; {args.rounds} rounds")
    print("| render | median s | min s | max s |\n|---|---|---|---|")
    print(f"| WeasyPrint alone, same HTML | {b:.3f} | {min(bare):.3f} | {max(bare):.3f} |")
    print(f"| cabos first render (cache miss) | {o:.3f} | {min(ours):.3f} | {max(ours):.3f} |")
    print(f"ratio cabos/WeasyPrint: {o / b:.3f} (goal <= 1.15)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
