"""Staff accounts: who may open the staff pages, with which role; sign-in and sign-out.

Other parts protect their staff views with ``auth.staff_required(*roles)``,
extend ``staff/base.html`` and add themselves to the menu with
``sections.add_section``.
"""

from __future__ import annotations

from flask import Flask

from cabos.staff import auth, routes


def init_app(app: Flask) -> None:
    auth.init_app(app)
    routes.init_app(app)
