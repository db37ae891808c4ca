"""Sales: handoffs, the queue, the contact page (brief, trail, chart), outcomes, webhooks and the API.

Nurture calls ``handoffs.create_handoff``; the worker loop calls
``webhooks.deliver_due``; other parts listen to ``signals``.
"""

from __future__ import annotations

from flask import Flask

from cabos.intent.store import FIELD_SOURCES
from cabos.sales import account_routes, accounts, api, crm, labels, routes, webhooks
from cabos.sales.crm.mapping import CrmExtension
from cabos.sales.policyfile import PolicyExtension


def init_app(app: Flask) -> None:
    labels.init_app(app)
    routes.init_app(app)
    api.init_app(app)
    account_routes.init_app(app)
    crm.init_app(app)
    # `cabos worker` (and `cabos serve --dev`) deliver the sales outbox after each nurture tick.
    app.extensions.setdefault("cabos.worker_jobs", {})["sales-deliveries"] = webhooks.worker_job
    app.extensions["cabos.worker_jobs"]["sales-accounts"] = accounts.worker_job
    # The fit rules of intent.yml may use account_people and account_readers_week.
    app.extensions.setdefault(FIELD_SOURCES, {})["sales-accounts"] = accounts.account_fields


def content_extension() -> PolicyExtension:
    """The content-loader extension that checks site.yml's ``sales:`` section (`cabos check`, reloads)."""
    return PolicyExtension()


def crm_extension() -> CrmExtension:
    """The content-loader extension that checks content/crm.yml and reads it into ``sections['crm']``."""
    return crm.content_extension()
