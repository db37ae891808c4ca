"""gunicorn settings for `cabos serve`; each can be overridden on the command line
or with GUNICORN_CMD_ARGS."""

import multiprocessing
import os

workers = int(os.environ.get("CABOS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30            # a request that takes longer is a bug; the worker is restarted
graceful_timeout = 30   # on SIGTERM, in-flight requests get this long to finish
keepalive = 5
accesslog = "-"
errorlog = "-"
