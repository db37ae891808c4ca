"""The campaigns report: sources normalised, people counted under their touch, the CSV."""

from __future__ import annotations

import csv
import io

import pytest

from cabos.tracking.touches import channel, source_of
from tests.dashboard.conftest import PERIOD


@pytest.mark.parametrize("raw, source", [
    ("linkedin", "linkedin"), ("www.linkedin.com", "linkedin"), ("LinkedIn", "linkedin"), ("lnkd.in", "linkedin"),
    ("es.linkedin.com", "linkedin"), ("www.google.com", "google"), ("www.google.es", "google"),
    ("google.co.uk", "google"), ("www.google.com.mx", "google"), ("news.google.com", "google"),
    ("t.co", "twitter"), ("m.facebook.com", "facebook"), ("https://www.bing.com/search", "bing"),
    ("www.partner-blog.example", "partner-blog.example"), ("newsletter", "newsletter"), ("", "(direct)"),
    ("direct", "(direct)"), ("googleads.example", "googleads.example"),
])
def test_sources_are_one_name_per_channel(raw: str, source: str) -> None:
    assert source_of(raw) == source


@pytest.mark.parametrize("touch, expected", [
    ({"source": "linkedin", "medium": "Social", "campaign": " inventario "}, ("linkedin", "social", "inventario")),
    ({"source": "www.linkedin.com", "referrer": "www.linkedin.com"}, ("linkedin", "social", "(not set)")),
    ({"source": "www.google.es", "referrer": "www.google.es"}, ("google", "organic", "(not set)")),
    ({"source": "blog.example", "referrer": "blog.example"}, ("blog.example", "referral", "(not set)")),
    ({"source": "newsletter"}, ("newsletter", "(not set)", "(not set)")),
    ({"source": "direct", "landing": "/"}, ("(direct)", "(none)", "(not set)")),
    ({}, ("(direct)", "(none)", "(not set)")),
    (None, ("(direct)", "(none)", "(not set)")),
])
def test_a_touch_becomes_source_medium_and_campaign(touch, expected) -> None:  # type: ignore[no-untyped-def]
    assert channel(touch) == expected


def test_the_campaigns_csv_of_the_known_month(staff_client, history) -> None:  # type: ignore[no-untyped-def]
    client = staff_client("marketer")
    body = client.get("/staff/dashboard/campaigns-first-touch.csv", query_string=PERIOD).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == ["Source", "Medium", "Campaign", "Visitors", "Engaged readers", "Contacts", "Purchase mode",
                       "Handoffs", "Won", "Revenue won (EUR)"]
    # Visitors v1..v6 carry no touch: direct. Contacts: c1 newsletter, c2 google, c3 and c4 direct.
    # March: visitors 5 (engaged 3); new contacts c1, c2, c4; purchase c1, c3; handoffs c1, c2, c3;
    # won c3 (10,000) and c1 (3,000).
    assert rows[1:] == [
        ["(direct)", "(none)", "(not set)", "5", "3", "1", "1", "1", "1", "10000.00"],
        ["newsletter", "(not set)", "(not set)", "0", "0", "1", "1", "1", "1", "3000.00"],
        ["google", "(not set)", "(not set)", "0", "0", "1", "0", "1", "0", "0.00"],
    ]
    html = client.get("/staff/dashboard/", query_string=PERIOD).get_data(as_text=True)
    assert 'id="campaigns-last-table"' in html and 'data-key="newsletter|(not set)|(not set)"' in html
