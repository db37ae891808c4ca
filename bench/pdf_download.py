"""Cached guide download throughput: cabos' signed download vs a bare Flask send_file of the same file.

    .venv/bin/python bench/pdf_download.py [--seconds 10]

Both run under gunicorn with 2 sync workers, loaded by wrk on loopback, in the
same run (alternating which goes first), the PDF already in the cache. cabos'
side checks the signed link, buffers the `download` event (written in batches
to SQLite) and sends the file, through the download fast path in front of
Flask (cabos/site/fast_download.py). Goal: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import urllib.request
from pathlib import Path

from _harness import gunicorn, machine, row, wrk

from cabos import migrate
from cabos.contacts.capture import Lead, capture
from cabos.content import current_library
from cabos.content.pdf import guide_pdf
from cabos.db import make_engine, session_scope
from cabos.site import create_app
from cabos.site.download_links import make_token

SLUG = "guia-inventario-que-cuadra"


def prepare(tmp: Path) -> tuple[dict[str, str], str, int]:
    """A migrated database with one contact, the PDF in the cache; the env and the download path."""
    url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    migrate.upgrade(make_engine(url))
    cache = tmp / "pdf-cache"
    app = create_app({"DATABASE_URL": url, "PDF_CACHE_DIR": str(cache), "SECRET_KEY": "bench",
                      "SITE_URL": "http://bench.test",
                      "CONTENT_DIR": str(Path(__file__).resolve().parent.parent / "content")})
    with app.app_context():
        lib = current_library()
        doc = lib.guides[SLUG]
        pdf = guide_pdf(lib, doc)
        with session_scope() as session:
            contact, _ = capture(session, Lead("bench@example.com", "Bench"), doc, {"source": "bench"})
            token = make_token("bench", contact.id, contact.email, SLUG)
    path = f"/guias/{SLUG}/descargar?token={token}"
    env = {"BENCH_DATABASE_URL": url, "BENCH_PDF_CACHE_DIR": str(cache), "BENCH_PDF_FILE": str(pdf),
           "BENCH_DOWNLOAD_PATH": path.split("?")[0]}
    return env, path, pdf.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    env, path, size = prepare(Path(tempfile.mkdtemp()))
    with gunicorn("bench.pdf_apps:cabos_app", env) as base:
        body = urllib.request.urlopen(base + path).read()
        assert body.startswith(b"%PDF") and len(body) == size, "the cabos download did not serve the PDF"
    print(f"machine: {machine()}; guide PDF: {size:,} bytes; wrk 2 threads, 8 connections, {args.seconds}s")
    print("| server | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|")
    ratios = []
    for n in range(args.rounds):
        results = {}
        # Alternate which goes first: the shared machine's load drifts during a run.
        for name in (("bare", "cabos") if n % 2 == 0 else ("cabos", "bare")):
            with gunicorn(f"bench.pdf_apps:{name}_app", env) as base:
                wrk(base + path, 2)
                results[name] = wrk(base + path, args.seconds)
        bare, ours = results["bare"], results["cabos"]
        print(row("bare Flask send_file", bare))
        print(row("cabos signed download (event recorded)", ours))
        ratios.append(ours.requests_per_s / bare.requests_per_s)
    print(f"ratio cabos/bare: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f} "
          "(goal >= 0.8)")


if __name__ == "__main__":
    main()
