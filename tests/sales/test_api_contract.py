"""schemathesis over the sales API's OpenAPI document (``/api/openapi.json``), with a token: whatever it
generates from the document, valid or not, never gets a server error. Bounded to stay fast."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.sales.test_access import api_client


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_the_api_never_answers_a_generated_request_with_a_server_error(app: Flask, journey,  # type: ignore[no-untyped-def]
                                                                       make_staff, mode: Any) -> None:
    token = api_client(app, make_staff("admin")).environ_base["HTTP_AUTHORIZATION"]
    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": token}, checks=[not_a_server_error])

        check()
