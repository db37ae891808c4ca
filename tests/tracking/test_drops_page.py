"""The staff page of dropped beacons: totals per reason and per day over the last 30 days, for marketing.

The demo site these tests serve is Spanish, so the page is read in Spanish.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.orm import Session

from cabos.db import utcnow
from cabos.tracking.models import DropCount

PAGE = "/staff/tracking/drops"


def _cells(html: str, table: int) -> list[list[str]]:
    """The text of each body row's cells in the page's ``table``-th table (from 0)."""
    body = html.split("<table")[table + 1].split("</table>")[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1].split("</tbody>")[0], re.S)]


def test_drops_per_reason_and_day_in_the_last_30_days(staff_client, send, payload, articles,  # type: ignore[no-untyped-def]
                                                      session: Session) -> None:
    send(payload(articles[0]), headers={"User-Agent": "curl/8.0"})  # a real drop, today: bot
    today = utcnow().date()
    session.add_all([DropCount(day=today, reason="rate_limit", count=3),
                     DropCount(day=today - timedelta(days=2), reason="bot", count=5),
                     DropCount(day=today - timedelta(days=2), reason="overload", count=7),
                     DropCount(day=today - timedelta(days=40), reason="error", count=99)])  # too old to show
    session.commit()
    response = staff_client("marketer").get(PAGE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    per_reason = _cells(html, 0)
    assert [row[:2] for row in per_reason] == [["overload", "7"], ["bot", "6"], ["rate_limit", "3"]]
    assert "el búfer de escritura estaba lleno" in per_reason[0][2]
    assert "<tfoot><tr><th>Total</th><td class=\"num\">16</td>" in html
    assert "error" not in [row[0] for row in per_reason] and "99" not in html
    per_day = _cells(html, 1)  # newest day first; columns: overload, bot, rate_limit, total
    assert [row[1:] for row in per_day] == [["0", "1", "3", "4"], ["7", "5", "0", "12"]]
    assert f'datetime="{today.isoformat()}"' in html


def test_no_drops_says_so(staff_client) -> None:  # type: ignore[no-untyped-def]
    html = staff_client("marketer").get(PAGE).get_data(as_text=True)
    assert "No se descartó ninguna baliza en los últimos 30 días." in html and "<table" not in html


def test_only_marketing_and_admins_see_it(staff_client) -> None:  # type: ignore[no-untyped-def]
    assert staff_client("sales").get(PAGE).status_code == 403
    assert staff_client("admin").get(PAGE).status_code == 200
    assert f'href="{PAGE}"' in staff_client("marketer").get("/staff/").get_data(as_text=True)
    assert f'href="{PAGE}"' not in staff_client("sales").get("/staff/").get_data(as_text=True)
