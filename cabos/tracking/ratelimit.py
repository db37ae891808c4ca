"""The beacon limits: per visitor, per network, and new visitors per network (allow or not, never a 429).

- ``v:<visitor>`` (or ``c:<hashed address>`` without a visitor): TRACKING_RATE_LIMIT;
- ``n:<network>`` (/24, /48): TRACKING_NETWORK_RATE_LIMIT, so rotating cookies gains nothing;
- ``m:<network>``: TRACKING_NEW_VISITOR_LIMIT, visitors minted for cookieless beacons, so a client
  without a cookie cannot mint hundreds of visitors a minute.

Counted in each process and shared every second (``cabos.limits.windows``) through
RATELIMIT_STORAGE_URI: the database by default, Redis or memcached; ``memory://`` keeps them per
process (tests, one process only).
"""

from __future__ import annotations

import atexit
import weakref

from flask import Flask
from limits import parse
from limits.storage import storage_from_string

from cabos import db
from cabos.limits import storage as limit_storage
from cabos.limits.windows import Windows


def make(app: Flask) -> Windows:
    config = app.config
    visitor = parse(str(config["TRACKING_RATE_LIMIT"]))
    limits = {"v": visitor, "c": visitor, "n": parse(str(config["TRACKING_NETWORK_RATE_LIMIT"])),
              "m": parse(str(config["TRACKING_NEW_VISITOR_LIMIT"]))}
    uri = str(config["RATELIMIT_STORAGE_URI"])
    if uri.startswith("memory://"):
        shared = None
    elif limit_storage.is_database(uri):
        shared = limit_storage.DatabaseStorage(engine=db.database(app).engine, secret=str(app.secret_key or "").encode())
    else:
        shared = storage_from_string(uri)
    windows = Windows(limits, shared)  # type: ignore[arg-type]
    ref = weakref.ref(windows)
    atexit.register(lambda: (w := ref()) is not None and w.close())  # share the last second's counts
    return windows
