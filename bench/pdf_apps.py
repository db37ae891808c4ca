"""The two apps compared by pdf_download.py (imported by gunicorn).

`cabos_app` serves the demo content; its download route checks the signed link,
looks the contact up, records the download on the trail and sends the cached
PDF. `bare_app` sends the same file with Flask's send_file and nothing else.
"""

import os
from pathlib import Path

from flask import Flask, Response, send_file

from cabos.site import create_app

cabos_app = create_app({
    "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
    "CONTENT_DIR": str(Path(__file__).resolve().parent.parent / "content"),
    "PDF_CACHE_DIR": os.environ["BENCH_PDF_CACHE_DIR"],
    "SECRET_KEY": "bench",
    "SITE_URL": "http://bench.test",
})

bare_app = Flask("bare")
_file = os.environ.get("BENCH_PDF_FILE", "")


@bare_app.get(os.environ.get("BENCH_DOWNLOAD_PATH", "/download"))
def bare() -> Response:
    return send_file(_file, mimetype="application/pdf", as_attachment=True, download_name="guide.pdf", max_age=0)
