"""Two-way sync with the sales team's CRM: HubSpot, Pipedrive, Salesforce (one file each).

``base.Connector`` is the interface; ``sync`` queues pushes on the sales outbox,
delivers them, polls deal changes back as outcomes and propagates erasures;
``mapping`` reads and checks content/crm.yml; ``cli`` is `cabos crm test|sync`.
The worker runs ``worker_job`` after each tick: deliver, then poll every CRM_POLL_INTERVAL.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask

from cabos.contacts.signals import erasing
from cabos.sales.crm import sync
from cabos.sales.crm.base import CrmError
from cabos.sales.crm.mapping import CrmExtension
from cabos.sales.signals import handoff_created

log = logging.getLogger("cabos.sales.crm")
JOB = "crm"


def worker_job(app: Flask, stop: Any) -> None:
    """Deliver the CRM rows that are due; poll each CRM when CRM_POLL_INTERVAL has passed."""
    with app.app_context():
        mappings = sync.mappings()
        # A CRM without its settings or with mapping errors is not polled (`cabos doctor` says why);
        # its pushes are still delivered, to fail with those words on the deliveries page.
        names = [n for n, m in mappings.items() if not m.errors and not sync.connector(n, app.config, m).missing()]
    if not mappings:
        return
    counts = sync.deliver_due(app)
    if any(counts.values()):
        log.info("crm: %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    state = app.extensions.setdefault("cabos.crm", {"polled": {}})
    for name in names:
        if stop() or time.monotonic() - state["polled"].get(name, -1e12) < float(app.config["CRM_POLL_INTERVAL"]):
            continue
        state["polled"][name] = time.monotonic()
        try:
            found = sync.poll(app, name)
        except CrmError as exc:
            log.warning("crm %s: polling failed: %s", name, exc.words())
            continue
        if found["won"] or found["lost"]:
            log.info("crm %s: %s", name, " ".join(f"{k}={v}" for k, v in found.items()))


def init_app(app: Flask) -> None:
    handoff_created.connect(sync.on_handoff_created)  # the same receiver for every app: connected once
    erasing.connect(sync.on_contact_erasing)
    app.extensions.setdefault("cabos.worker_jobs", {})[JOB] = worker_job


def content_extension() -> CrmExtension:
    """The content-loader extension that checks content/crm.yml (`cabos check`, reloads)."""
    return CrmExtension()
