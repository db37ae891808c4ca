"""WSGI entry point for gunicorn: `gunicorn cabos.wsgi:app`."""

from cabos.site import create_app

app = create_app()
