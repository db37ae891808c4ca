"""What the app accepts from outside before any view sees it: ids in URLs bounded, JSON bodies
that cannot exhaust the parser, and JSON only where JSON is read. A hostile value is a 4xx here,
never a crash further in."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

ID_MAX = 2**31 - 1  # PostgreSQL's integer: the type of every id column


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a row id, so at most ``ID_MAX``. A larger number is a 404 at
    routing, before it reaches a query it would overflow (PostgreSQL past 2³¹, SQLite past 2⁶³)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = None, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, ID_MAX if max is None else max, signed)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested past the parser's recursion limit
    (``[[[[…]]]]``, 100 000 deep) is invalid JSON (a 400) instead of a RecursionError (a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


# The blueprints whose views read JSON bodies (the API, beacons, mail providers' webhooks). Every
# other POST is a form: Flask-WTF would take a JSON body as the form's data, and a JSON list or
# string there crashes it.
JSON_BLUEPRINTS = frozenset({"api", "tracking", "mail_webhooks"})


def _forms_take_no_json() -> None:
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_json \
            and request.blueprint not in JSON_BLUEPRINTS:
        abort(415, "Send this form as application/x-www-form-urlencoded or multipart/form-data.")


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    app.json = JSONProvider(app)
    app.before_request(_forms_take_no_json)
