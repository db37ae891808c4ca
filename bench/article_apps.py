"""The two apps compared by article_throughput.py (imported by gunicorn).

`cabos_app` serves the demo content on a migrated SQLite file; `bare_app`
returns a pre-built string of the same size as the benchmarked article page.
"""

import os
from pathlib import Path

from flask import Flask, Response

from cabos.site import create_app

ARTICLE = os.environ.get("BENCH_ARTICLE_PATH", "/articulos/por-que-no-cuadra-el-inventario")

cabos_app = create_app({
    "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
    "CONTENT_DIR": str(Path(__file__).resolve().parent.parent / "content"),
    "SECRET_KEY": "bench",
})

_size = int(os.environ.get("BENCH_BODY_SIZE", "20000"))
_body = ("x" * _size).encode()
bare_app = Flask("bare")


@bare_app.get(ARTICLE)
def bare() -> Response:
    return Response(_body, mimetype="text/html")
