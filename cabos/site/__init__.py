"""The Flask application: factory, blueprints, templates, static files."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from cabos import config as settings
from cabos import content, db, formats, intent, mail
from cabos.intent import backtest_page as intent_backtest
from cabos.intent import hooks as intent_hooks
from cabos.content import pdf
from cabos.site import (confirmations, errors, form_specs, forms, guides, health, i18n, inputs, limits, media,
                        page_forms, previews, public, security)
from cabos.site.sessions import SessionInterface
from cabos.tracking import routes as tracking
from cabos import sales, staff
from cabos import nurture
from cabos.nurture import audiences
from cabos.nurture import routes as nurture_routes
from cabos.nurture.bounces import cli as bounces_cli
from cabos.nurture.bounces import routes as bounces_routes
from cabos import dashboard


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app: defaults, instance file, CABOS_* variables, then ``config``."""
    app = Flask("cabos", instance_relative_config=True,
                template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(settings.load(Path(app.instance_path), config))
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _development_secret(Path(app.instance_path))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    app.session_interface = SessionInterface()
    inputs.init_app(app)  # before any blueprint: the routes' <int:…> must be bounded
    db.init_app(app)
    content_extensions = (intent.rules_extension(), nurture.content_extension(), sales.content_extension(),
                          sales.crm_extension(), form_specs.FormsExtension(), audiences.content_extension())
    app.extensions["cabos.content_extensions"] = content_extensions  # `cabos check` validates them too
    # How this app was made, for a command that needs a sibling app with other settings (`cabos demo`)
    # without importing the web layer from below it.
    app.extensions["cabos.create_app"] = create_app
    content.init_app(app, extensions=content_extensions)
    security.init_app(app)
    health.init_app(app)
    i18n.init_app(app)
    formats.init_app(app)
    errors.init_app(app)
    public.init_app(app)
    media.init_app(app)
    previews.init_app(app)
    mail.init_app(app)
    pdf.init_app(app)
    forms.init_app(app)
    limits.init_app(app)
    guides.init_app(app)
    confirmations.init_app(app)
    page_forms.init_app(app)
    tracking.init_app(app)
    intent_hooks.init_app(app)
    intent_backtest.init_app(app)
    staff.init_app(app)
    sales.init_app(app)
    nurture_routes.init_app(app)
    bounces_cli.init_app(app)
    bounces_routes.init_app(app)
    dashboard.init_app(app)
    return app


def _development_secret(instance: Path) -> str:
    """A per-instance secret so development works without setup; production sets its own."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
