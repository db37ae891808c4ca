"""Segments and broadcasts: checked with file, line and key; refused with a reason; delivered once
per contact to exactly the people the dry run names, by two senders at once."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from cabos.contacts.models import Contact, Suppression
from cabos.contacts.privacy import email_hash
from cabos.db import utcnow
from cabos.nurture.broadcasts import BroadcastMailer, queue_due
from cabos.nurture.models import BroadcastSend
from tests.conftest import CabosRunner, write
from tests.nurture.conftest import FILES

NEWSLETTER = """\
---
subject: "News for {{ first_name | 'you' }}"
preheader: "What is new this month."
segment: everyone
---
Hello {{ first_name | "there" }}, read [the basics](/articles/stock-basics).
"""


@pytest.fixture
def content_dir(make_content):  # type: ignore[no-untyped-def]
    return make_content({**FILES, "segments/everyone.yml": "name: Everyone who agreed\nconsent: true\n",
                         "broadcasts/newsletter.md": NEWSLETTER})


@pytest.fixture
def app_config(smtp_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**smtp_server.settings, "NURTURE_CLAIM_SIZE": 200}


@pytest.mark.parametrize("name, text, expected", [
    ("segments/x.yml", "consent: true\nmode: information\ncolour: blue\n",
     "segments/x.yml:3: error [colour]: unknown key 'colour'"),
    ("segments/x.yml", "consent: true\nproblems: [bad-stock, nope]\n",
     "segments/x.yml:2: error [problems]: problem 'nope' is not in problems.yml"),
    ("segments/x.yml", "consent: true\ngrade: [A, Z]\n", "segments/x.yml:2: error [grade]: grade 'Z' is not one of"),
    ("segments/x.yml", "consent: true\nmin_interest: 2\n",
     "segments/x.yml:2: error [min_interest]: min_interest applies to problems"),
    ("segments/x.yml", "consent: yes please\n", "segments/x.yml:1: error [consent]: consent must be true or false"),
    ("segments/x.yml", "consent: true\nlifecycle: [lead, buyer]\n",
     "segments/x.yml:2: error [lifecycle]: lifecycle 'buyer' is not one of lead, handed_off"),
    ("broadcasts/x.md", "---\nsegment: everyone\n---\nHi\n", "broadcasts/x.md:1: error [subject]: subject is missing"),
    ("broadcasts/x.md", "---\nsubject: S\nsegmnt: everyone\n---\nHi\n",
     "broadcasts/x.md:3: error [segmnt]: unknown key 'segmnt'; did you mean 'segment'?"),
    ("broadcasts/x.md", "---\nsubject: S\nsegment: nobody\n---\nHi\n",
     "broadcasts/x.md:3: error [segment]: segment 'nobody' is not in segments/"),
    ("broadcasts/x.md", "---\nsubject: S\nsegment: everyone\n---\nHi {{ next_article }}\n",
     "broadcasts/x.md:5: error [body]: unknown tag {{ next_article }} in a broadcast"),
])
def test_check_names_file_line_and_key(app, content_dir, name: str, text: str, expected: str) -> None:
    write(content_dir, {name: text})
    result = CabosRunner(app).invoke(args=["check"])
    assert result.exit_code == 1
    assert any(line.startswith(expected) for line in result.output.splitlines()), result.output


def add_contacts(session, n: int) -> set[str]:  # type: ignore[no-untyped-def]
    """``n`` contacts in bulk: every 5th never agreed to emails, every 7th unsubscribed; the rest are
    the recipients (returned)."""
    now = utcnow()
    rows = [{"email": f"p{i}@example.com", "name": f"Person {i}", "company": "", "role": "", "company_size": "",
             "country": "", "custom": {}, "first_touch": {}, "latest_touch": {},
             "consent_at": None if i % 5 == 0 else now, "consent_text": "", "created_at": now, "updated_at": now}
            for i in range(n)]
    session.execute(insert(Contact), rows)
    session.execute(insert(Suppression), [{"email_hash": email_hash(f"p{i}@example.com"), "reason": "unsubscribe",
                                           "created_at": now} for i in range(0, n, 7)])
    session.commit()
    return {f"p{i}@example.com" for i in range(n) if i % 5 and i % 7}


N = 400  # the 10,000-contact run with two worker processes is bench/broadcast.py


def test_a_broadcast_reaches_each_right_contact_exactly_once(app, session, smtp_server) -> None:  # type: ignore[no-untyped-def]
    expected = add_contacts(session, N)
    runner = CabosRunner(app)
    dry = runner.invoke(args=["broadcast", "send", "newsletter", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    named = {line for line in dry.stdout.splitlines() if "@" in line}
    assert named == expected
    assert session.scalar(select(func.count()).select_from(BroadcastSend)) == 0  # a dry run writes nothing

    queued = runner.invoke(args=["broadcast", "send", "newsletter"])
    assert queued.exit_code == 0 and f"queued for {len(expected)} people" in queued.output
    again = runner.invoke(args=["broadcast", "send", "newsletter"])
    assert again.exit_code == 1 and "never sent twice" in again.output
    with app.app_context():
        assert queue_due(app, utcnow() + timedelta(days=1)) == []  # not scheduled, and already queued

    def sender() -> None:
        with app.app_context():
            BroadcastMailer(app).deliver()

    senders = [threading.Thread(target=sender) for _ in range(2)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(timeout=600)
    received = Counter(address for d in smtp_server.messages for address in d.rcpt_tos)
    assert set(received) == expected and set(received.values()) == {1}
    first = smtp_server.messages[0].message
    assert first["Subject"] == "News for Person" and first["List-Unsubscribe"]
    with app.app_context():
        assert BroadcastMailer(app).deliver().sent == 0  # nothing left, nothing twice


def test_refused_with_the_reason(app, content_dir, session) -> None:  # type: ignore[no-untyped-def]
    runner = CabosRunner(app)
    empty = runner.invoke(args=["broadcast", "send", "newsletter"])
    assert empty.exit_code == 1 and "segment 'everyone' has nobody to send to" in empty.output
    write(content_dir, {"segments/everyone.yml": "name: Everyone\nmode: information\n"})
    add_contacts(session, 10)
    app.extensions["cabos.content"].maybe_reload()
    check = runner.invoke(args=["check"])
    assert "broadcasts/newsletter.md:4: warning [segment]: segment 'everyone' does not filter on consent" \
           in check.output
    no_consent = runner.invoke(args=["broadcast", "send", "newsletter", "--dry-run"])
    assert no_consent.exit_code == 1 and "does not filter on consent: add consent: true" in no_consent.output
    assert session.scalar(select(func.count()).select_from(BroadcastSend)) == 0


def test_a_segment_holds_whoever_meets_every_condition(app, content_dir, session, staff_client) -> None:  # type: ignore[no-untyped-def]
    from cabos.intent.models import IntentState
    from cabos.tracking.models import Event

    write(content_dir, {"segments/stock-buyers.yml": (
        "name: Stock buyers from LinkedIn\nconsent: true\nproblems: [bad-stock]\nmin_interest: 2\n"
        "mode: purchase\ngrade: [A, B]\nstage: compare\nsource: linkedin\ncompany: [Acme]\n")})
    app.extensions["cabos.content"].maybe_reload()
    now = utcnow()

    def person(name: str, **changes: Any) -> None:
        fields = {"consent": True, "interest": {"bad-stock": 5.0}, "mode": "purchase", "grade": "A",
                  "stage": "compare", "source": "www.linkedin.com", "company": "ACME", **changes}
        contact = Contact(email=f"{name}@example.com", name=name.title(), company=fields["company"], custom={},
                          first_touch={"source": fields["source"], "referrer": fields["source"]}, latest_touch={},
                          consent_at=now if fields["consent"] else None)
        session.add(contact)
        session.flush()
        session.add(IntentState(contact_id=contact.id, mode=fields["mode"], grade=fields["grade"],
                                interest=fields["interest"], evidence={}))
        session.add(Event(type="reading", occurred_at=now, contact_id=contact.id, content_kind="article",
                          content_slug="stock-compare", stage=fields["stage"], problems=["bad-stock"], data={}))

    person("ana")  # meets everything
    person("bea", stage="decide")  # a later stage counts as reached
    person("carla", consent=False)
    person("dora", interest={"bad-stock": 1.0})
    person("eva", mode="information")
    person("fany", grade="C")
    person("gala", stage="learn")
    person("hana", source="google")
    person("ines", company="Globex")
    session.commit()
    html = staff_client("marketer").get("/staff/segments/").get_data(as_text=True)
    section = html.split('id="segment-stock-buyers"')[1].split("</section>")[0]
    assert re.search(r'data-count="members">2<', section), section
    assert "ana@example.com" in section and "bea@example.com" in section and "carla@" not in section


def test_a_list_segment_holds_the_confirmed_subscribers(app, content_dir, session, staff_client) -> None:  # type: ignore[no-untyped-def]
    from cabos.contacts.models import ListSubscription

    write(content_dir, {"segments/newsletter.yml": "name: Newsletter\nconsent: true\nlist: newsletter\n"})
    app.extensions["cabos.content"].maybe_reload()
    now = utcnow()
    for name, confirmed, left in (("ana", True, False), ("bea", False, False), ("carla", True, True)):
        contact = Contact(email=f"{name}@example.com", name=name.title(), custom={}, first_touch={}, latest_touch={},
                          consent_at=now)
        session.add(contact)
        session.flush()
        session.add(ListSubscription(contact_id=contact.id, list="newsletter", subscribed_at=now,
                                     confirmed_at=now if confirmed else None, unsubscribed_at=now if left else None))
    session.commit()
    html = staff_client("marketer").get("/staff/segments/").get_data(as_text=True)
    section = html.split('id="segment-newsletter"')[1].split("</section>")[0]
    assert re.search(r'data-count="members">1<', section) and "ana@example.com" in section, section


def test_lifecycle_and_decayed_intent_decide_membership(app, content_dir, session, staff_client) -> None:  # type: ignore[no-untyped-def]
    from cabos.sales.models import Handoff
    from tests.nurture.conftest import add_contact, go_purchase

    write(content_dir, {"segments/back.yml": "name: Leads and sent back\nconsent: true\nlifecycle: [lead, nurture]\n",
                        "segments/buying.yml": "name: Buying now\nconsent: true\nmode: purchase\n",
                        "segments/learning.yml": "name: Learning\nconsent: true\nmode: information\n",
                        "segments/keen.yml": "name: Keen\nconsent: true\nproblems: [bad-stock]\nmin_interest: 10\n"})
    app.extensions["cabos.content"].maybe_reload()
    now = utcnow()
    people = {name: add_contact(session, f"{name}@example.com", name.title()) for name in
              ("ana", "bea", "carla", "dora", "eva", "fay")}
    for name, status in (("bea", "new"), ("carla", "won"), ("dora", "accepted"), ("dora", "sent_back")):
        session.add(Handoff(contact_id=people[name].id, due_at=now, status=status, evidence={}))
    session.commit()
    go_purchase(app, session, people["eva"], at=now - timedelta(days=60))  # purchase mode then, lapsed since
    go_purchase(app, session, people["fay"])  # purchase mode now
    session.commit()
    html = staff_client("marketer").get("/staff/segments/").get_data(as_text=True)

    def members_of(slug: str) -> set[str]:
        section = html.split(f'id="segment-{slug}"')[1].split("</section>")[0]
        return set(re.findall(r"(\w+)@example.com", section))

    # Never handed off, or sent back (the latest handoff counts); eva and fay were handed off on purchase mode.
    assert members_of("back") & {"ana", "bea", "carla", "dora"} == {"ana", "dora"}
    assert members_of("buying") == {"fay"}  # eva's purchase mode was stored, and has decayed since
    assert "eva" in members_of("learning")
    assert members_of("keen") == {"fay"}  # eva's interest was as high as fay's when stored; it has decayed since
    with app.app_context():
        from cabos.intent.store import current_state
        for name, keen in (("eva", False), ("fay", True)):  # as the contact page says
            state = current_state(session, people[name].id, utcnow())
            assert state is not None and (state.interest["bad-stock"] > 10) is keen
