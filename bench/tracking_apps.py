"""The two apps compared by tracking_ingest.py (imported by gunicorn).

`cabos_app` is the whole cabos app (every hook, the full ingest pipeline, the write
buffer) on a migrated SQLite file; `bare_app` is a bare Flask endpoint at the same path
that parses the same JSON and answers 204 without storing anything. With
BENCH_INGEST_ONLY set, cabos runs without the intent hook that rescores each written batch.
"""

import json
import os
from pathlib import Path

from flask import Flask, Response, request

from cabos.site import create_app

cabos_app = create_app({
    "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
    "CONTENT_DIR": str(Path(__file__).resolve().parent.parent / "content"),
    "SECRET_KEY": "bench",
    "SITE_URL": "http://127.0.0.1",
})

if os.environ.get("BENCH_INGEST_ONLY"):
    # Without intent's rescoring of each written batch (tracking_ingest.py --ingest-only).
    cabos_app.extensions["cabos.tracking"].buffer.after_write = None

bare_app = Flask("bare")


@bare_app.post("/t/e")
def bare() -> Response:
    json.loads(request.get_data())
    return Response(status=204)
