"""The worst cases of the persona simulation (bench/intent_personas.py), small and fast, as tests.

Journeys go through the site's HTTP surface on a moved clock; what is asserted is
the truth each persona carries, not a figure tuned to one rules file.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.intent.personas import persona_app, report, simulate


@pytest.fixture
def world_app(app: Flask, app_factory) -> Flask:  # type: ignore[no-untyped-def]
    base: dict[str, Any] = {k: app.config[k] for k in ("SECRET_KEY", "PDF_CACHE_DIR", "SITE_URL", "MAIL_BACKEND",
                                                       "MAIL_FOLDER")}
    return persona_app(lambda config: app_factory(app.config["CONTENT_DIR"], **config), base)


def test_researchers_and_competitors_stay_out_of_purchase_mode_and_the_queue(world_app: Flask) -> None:
    world = simulate(world_app, {"researcher": 2, "competitor": 1, "evaluator": 1, "bot": 1}, days=30, seed=3)
    r = report(world)
    assert world.notes == []
    assert r.false_by_kind.get("researcher", 0) == 0 and r.false_by_kind.get("competitor", 0) == 0
    assert set(r.queue_by_kind) <= {"evaluator"} and r.bot_contacts == 0
    assert r.recall is not None and r.recall > 0.5  # the evaluator among them is found


def test_a_quiet_buyer_and_a_buyer_on_two_devices_are_detected_within_a_day(world_app: Flask) -> None:
    world = simulate(world_app, {"quiet": 1, "devices": 1, "ready": 1}, days=45, seed=5)
    r = report(world)
    assert world.notes == []
    assert r.detected == r.buyers and r.within_a_day == 1.0
    assert r.handoff_precision == 1.0
