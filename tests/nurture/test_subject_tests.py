"""A/B subject tests: checked with file, line and key; a broadcast's test group split evenly, the winner
by clicks sent to the rest once the wait is over; a sequence step's test, then its winner for everyone."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from cabos.db import utcnow
from cabos.nurture.broadcasts import BroadcastMailer
from cabos.nurture.email_files import SubjectTest
from cabos.nurture.models import BroadcastSend, SubjectTestRun
from cabos.nurture.sequences import nurture_of
from cabos.nurture.subject_tests import Results, Variant, bucket, split, step_key
from cabos.tracking.models import Event
from tests.conftest import CabosRunner, write
from tests.nurture.conftest import FILES, add_contact, guide_event, rows, tick
from tests.nurture.test_broadcasts import add_contacts

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
AB = """\
---
subjects: ["Plain news", "News you can use"]
test_share: 0.4
pick_winner_after: 4h
segment: everyone
---
Hello, read [the basics](/articles/stock-basics).
"""


@pytest.fixture
def content_dir(make_content):  # type: ignore[no-untyped-def]
    return make_content({**FILES, "segments/everyone.yml": "name: Everyone who agreed\nconsent: true\n",
                         "broadcasts/ab.md": AB})


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "NURTURE_CLAIM_SIZE": 200}


CHECKS = [  # front matter → the error `cabos check` gives (all checked in one run: one app, one check)
    ('subjects: ["A"]\n', "2: error [subjects]: subjects must be a list of 2 to 5"),
    ('subjects: ["A", ""]\n', "2: error [subjects]: subject line 2 is empty"),
    ('subjects: ["A", "A"]\n', "2: error [subjects]: subject line 2 repeats line 1"),
    ('subjects: ["A", "B"]\ntest_share: 1.5\n', "3: error [test_share]: test_share must be a share"),
    ('subjects: ["A", "B"]\ntest_share: 0\n', "3: error [test_share]: test_share must be a share"),
    ('subjects: ["A", "B"]\npick_winner_after: soon\n', "3: error [pick_winner_after]: pick_winner_after 'soon' is not a wait"),
    ('subject: S\ntest_share: 0.2\n', "3: error [test_share]: test_share applies to an A/B"),
    ('subject: S\nsubjects: ["A", "B"]\n', "2: error [subject]: write either subject or subjects"),
    ('subjects: ["A", "B {{ next_article }}"]\n', "2: error [subjects]: unknown tag"),
    ('subjects: ["A", "B"]\nvariants: 2\n', "3: error [variants]: unknown key 'variants'"),
]


def test_check_names_file_line_and_key(app, content_dir) -> None:  # type: ignore[no-untyped-def]
    write(content_dir, {f"broadcasts/x{i}.md": f"---\n{front}segment: everyone\n---\nHi\n"
                        for i, (front, _e) in enumerate(CHECKS)})
    write(content_dir, {"emails/welcome.md": '---\nsubjects: ["A", "B"]\npick_winner_after: 0\n---\nHi\n'})
    result = CabosRunner(app).invoke(args=["check"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for i, (_front, expected) in enumerate(CHECKS):
        assert any(line.startswith(f"broadcasts/x{i}.md:{expected}") for line in lines), (expected, result.output)
    assert "emails/welcome.md:3: error [pick_winner_after]: pick_winner_after must be longer than 0" in result.output


def test_a_click_token_names_an_outbox_row_or_a_broadcast_send_and_nothing_else() -> None:
    from itsdangerous import URLSafeTimedSerializer

    from cabos.nurture.links import CLICK_SALT, TokenError, click_token, read_click

    assert read_click("k", click_token("k", 7, "http://x/a"), 60).broadcast is False
    assert read_click("k", click_token("k", 7, "http://x/a", broadcast=True), 60).broadcast is True
    forged = URLSafeTimedSerializer("k", salt=CLICK_SALT).dumps([7, "http://x/a", "z"])
    with pytest.raises(TokenError):
        read_click("k", forged, 60)


def test_the_split_is_even_deterministic_and_the_tie_goes_to_the_first() -> None:
    test = SubjectTest(("A", "B", "C"), share=0.3)
    groups = split(range(100), "broadcast:x", test)
    assert len(groups) == 30 and Counter(groups.values()) == {0: 10, 1: 10, 2: 10}
    assert split(list(reversed(range(100))), "broadcast:x", test) == groups  # the order they come in is no matter
    assert split(range(100), "broadcast:y", test) != groups  # another test, other people
    assert len(split(range(2), "broadcast:x", test)) == 2  # at least one per variant, never more than there are
    tie = Results("k", test, [Variant("A", 10, 1), Variant("B", 20, 2), Variant("C", 0, 0)])
    assert tie.leader == 0
    assert Results("k", test, [Variant("A", 10, 1), Variant("B", 10, 3), Variant("C", 5, 0)]).leader == 1


def test_a_broadcast_sends_the_winner_by_clicks_to_the_rest(app, content_dir, session, smtp_server,  # type: ignore[no-untyped-def]
                                                           client, staff_client) -> None:
    expected = add_contacts(session, 30)  # 20 people to email
    dry = CabosRunner(app).invoke(args=["broadcast", "send", "ab", "--dry-run"])
    assert "A/B subject test: 8 of them get one of 2 subject lines now; the other 12 get the one with the best " \
           "click rate 4h later" in dry.output, dry.output
    queued = CabosRunner(app).invoke(args=["broadcast", "send", "ab"])
    assert queued.exit_code == 0, queued.output
    now = utcnow()
    with app.app_context():
        first = BroadcastMailer(app, clock=lambda: now).deliver()
    tested = round(len(expected) * 0.4)
    assert first.sent == tested
    by_subject = Counter(d.message["Subject"] for d in smtp_server.messages)
    assert by_subject == {"Plain news": tested // 2, "News you can use": tested - tested // 2}

    # Two readers of the second subject click (one of them twice: one click counts), nobody of the first.
    clickers = [d for d in smtp_server.messages if d.message["Subject"] == "News you can use"][:2]
    for delivered in (clickers[0], clickers[1], clickers[1]):
        text = delivered.message.get_body(preferencelist=("plain",)).get_content()
        link = next(w for w in text.split() if "/e/c/" in w).strip("().")
        response = client.get(urlsplit(link).path, headers={"User-Agent": BROWSER})
        assert response.status_code == 302, text
        assert parse_qs(urlsplit(response.headers["Location"]).query)["utm_campaign"] == ["ab"]
    clicks = list(session.scalars(select(Event).where(Event.type == "email_click")))
    assert len(clicks) == 3 and {c.data["broadcast"] for c in clicks} == {"ab"} and {c.data["variant"] for c in clicks} == {1}

    with app.app_context():
        assert BroadcastMailer(app, clock=lambda: now + timedelta(hours=3)).deliver().sent == 0  # still waiting
        rest = BroadcastMailer(app, clock=lambda: now + timedelta(hours=4, minutes=1)).deliver()
    assert rest.sent == len(expected) - tested
    received = Counter(a for d in smtp_server.messages for a in d.rcpt_tos)
    assert set(received) == expected and set(received.values()) == {1}
    assert Counter(d.message["Subject"] for d in smtp_server.messages[tested:]) == {"News you can use": rest.sent}
    session.expire_all()
    assert session.get(SubjectTestRun, "broadcast:ab").winner == 1
    assert {s.variant for s in session.scalars(select(BroadcastSend).where(BroadcastSend.tested.is_(False)))} == {1}

    html = staff_client("marketer").get("/staff/segments/").get_data(as_text=True)
    table = html.split('data-test="ab"')[1].split("</table>")[0]
    second = table.split('data-variant="1"')[1].split("</tr>")[0]
    assert re.search(r'data-count="delivered">%d<' % (tested - tested // 2), second)
    assert re.search(r'data-count="clicked">2<', second) and "data-winner" in second


WELCOME_AB = """\
---
subjects: ["Your stock guide", "Your guide, {{ first_name | 'friend' }}"]
test_share: 0.5
pick_winner_after: 1d
preheader: "Start with one number."
---
Hello, read [the basics](/articles/stock-basics).
"""


def test_a_sequence_step_tests_then_sends_its_winner(app, content_dir, session, smtp_server, client,  # type: ignore[no-untyped-def]
                                                     staff_client) -> None:
    write(content_dir, {"emails/welcome.md": WELCOME_AB})
    app.extensions["cabos.content"].maybe_reload()
    test = nurture_of(app.extensions["cabos.content"].current()).emails["welcome"].test
    key = step_key("welcome", "welcome", "welcome", test)
    # Contacts until the hash puts one in the test with the second subject and one outside the test.
    people: list[Any] = []
    while not (any(bucket(p.id, key) < 0.5 and bucket(p.id, key, "variant:") >= 0.5 for p in people)
               and any(bucket(p.id, key) >= 0.5 for p in people)):
        people.append(add_contact(session, f"p{len(people)}@example.com", f"P{len(people)} X"))
        guide_event(session, people[-1])
        assert len(people) < 60
    session.commit()
    tick(app)
    first = rows(session, step="welcome")
    assert len(first) == len(people)
    for r in first:  # in the test by the hash (and a subject by the hash); the others: the first subject
        tested = bucket(r.contact_id, key) < 0.5
        assert r.data == ({"subject": int(bucket(r.contact_id, key, "variant:") * 2), "test": key} if tested
                          else {"subject": 0}), r.data
    in_test = [r for r in first if r.data.get("test")]
    again = tick(app)  # rendered rows are never re-decided
    assert again.sends.sent == 0 and [r.data for r in rows(session, step="welcome")] == [r.data for r in first]
    # A reader of the second subject clicks.
    clicked = next(r for r in in_test if r.data["subject"] == 1)
    delivered = next(d for d in smtp_server.messages if d.message["X-Cabos-Outbox"] == str(clicked.id))
    assert delivered.message["Subject"].startswith("Your guide, P")
    text = delivered.message.get_body(preferencelist=("plain",)).get_content()
    link = next(w for w in text.split() if "/e/c/" in w).strip("().")
    assert client.get(urlsplit(link).path, headers={"User-Agent": BROWSER}).status_code == 302

    latecomer = add_contact(session, "late@example.com", "Late Comer")
    at = utcnow() + timedelta(days=1, minutes=5)
    guide_event(session, latecomer, at=at)
    session.commit()
    tick(app, now=at + timedelta(minutes=1))
    (row,) = rows(session, contact_id=latecomer.id)
    assert row.data == {"subject": 1}
    assert smtp_server.messages[-1].message["Subject"] == "Your guide, Late"
    marketer = staff_client("marketer")
    html = marketer.get("/staff/nurture/").get_data(as_text=True)
    table = html.split(f'data-test="welcome/{row.step}"')[1].split("</table>")[0]
    assert "data-winner" in table.split('data-variant="1"')[1].split("</tr>")[0]
    preview = marketer.get(f"/staff/nurture/welcome/{row.step}").get_data(as_text=True)
    assert "<li>Your stock guide</li>" in preview and "first_name | &#39;friend&#39;" in preview
