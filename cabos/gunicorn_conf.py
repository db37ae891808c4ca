"""gunicorn settings for `cabos serve`; each can be overridden on the command line
or with GUNICORN_CMD_ARGS."""

import multiprocessing
import os

workers = int(os.environ.get("CABOS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30            # a request that takes longer is a bug; the worker is restarted
graceful_timeout = 30   # on SIGTERM, in-flight requests get this long to finish
keepalive = 5
errorlog = "-"
# With CABOS_LOG_FORMAT=json cabos logs one JSON line per request itself (beacons included).
# Otherwise gunicorn's access log, without the client's address, user agent or query string
# (tokens, UTM values): no personal data in the logs either way.
accesslog = None if os.environ.get("CABOS_LOG_FORMAT", "text") == "json" else "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# gunicorn's control socket (one path per user by default) would be shared by every instance
# on the machine; cabos needs none of its commands (signals do the same).
control_socket_disable = True
