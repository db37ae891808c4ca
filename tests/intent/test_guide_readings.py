"""A reading of a guide's landing page counts like an article reading of the guide's stage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cabos.intent.scoring import assess, engagement_share
from tests.intent.conftest import NOW, Journey

GUIDE = "guia-inventario-que-cuadra"  # learn, inventario-descuadrado
ARTICLE = "por-que-no-cuadra-el-inventario"  # learn, inventario-descuadrado


@pytest.mark.parametrize("seconds", [15, 60, 240, 900])
def test_a_landing_reading_moves_interest_like_an_article_of_the_same_stage(demo_library, demo_rules,
                                                                            seconds: int) -> None:
    guide, article = Journey(demo_library), Journey(demo_library)
    guide.read(GUIDE, days_ago=1, seconds=seconds, kind="guide")
    article.read(ARTICLE, days_ago=1, seconds=seconds)
    by_guide, by_article = (assess(j.readings, None, demo_rules, NOW) for j in (guide, article))
    assert demo_library.guides[GUIDE].stage == demo_library.articles[ARTICLE].stage
    assert by_guide.problems == pytest.approx(by_article.problems)
    assert by_guide.score == pytest.approx(by_article.score) and by_guide.score > 0
    expected = demo_rules.weight("learn") * engagement_share(seconds * 1000, demo_rules) * 0.5 ** (1 / 14)
    assert by_guide.problems["inventario-descuadrado"] == pytest.approx(expected)
    [item] = by_guide.items
    assert (item.kind, item.slug, item.stage) == ("guide", GUIDE, "learn")


def test_an_opened_landing_page_without_attention_is_not_interest(journey, demo_rules) -> None:
    journey.read(GUIDE, seconds=0, kind="guide")
    assert assess(journey.readings, None, demo_rules, NOW).items == ()


def test_the_landing_reading_and_the_download_are_one_item_counted_by_the_best(journey, demo_rules) -> None:
    journey.read(GUIDE, days_ago=2, seconds=60, kind="guide")  # read the promise...
    journey.read(GUIDE, days_ago=2, seconds=0, kind="guide", type="download")  # ...then got the PDF
    [item] = assess(journey.readings, None, demo_rules, NOW).items
    assert item.visits == 2 and item.share == demo_rules.download_share
    assert item.value == pytest.approx(demo_rules.weight("learn") * demo_rules.download_share * 0.5 ** (2 / 14))


def test_a_real_read_of_a_decide_stage_guide_page_is_purchase_evidence(journey, demo_rules) -> None:
    reading = journey.read(GUIDE, seconds=240, kind="guide")
    journey.readings[-1] = replace(reading, stage="decide")
    a = assess(journey.readings, None, demo_rules, NOW)
    assert a.evidence_count == 1
    skim = Journey(journey.library)
    skim.readings.append(replace(reading, stage="decide", engaged_ms=10_000))  # below min_engagement
    assert assess(skim.readings, None, demo_rules, NOW).evidence_count == 0
