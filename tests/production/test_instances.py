"""Two app instances and two nurture workers, real processes, one shared database.

What a company gets when its site outgrows one machine: readings sent to either instance are
stored once, a contact identified on one instance is known on the other, a form limit holds
across instances, and every due email reaches the SMTP server exactly once although two
workers run. On PostgreSQL (CI's second pass) this is the production layout; on SQLite it is
several instances on one machine, which cabos supports too.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.nurture.models import SENT, GuideMail, OutboxMessage
from cabos.site.guide_mail import FORM
from cabos.tracking.models import Event, Visitor
from tests.conftest import SmtpServer
from tests.production.conftest import (Cluster, Instance, Reader, click_consent_links, outbox_ids, view_nonce,
                                       wait_for)


def paths(instance: Instance, section: str) -> list[str]:
    """Paths of one section (``articulos``, ``guias``) from the instance's sitemap."""
    sitemap = Reader("198.51.100.1").get(instance, "/sitemap.xml").text
    return sorted(set(re.findall(rf"http://[^/<]+(/{section}/[^<]+)</loc>", sitemap)))


def guide_mail_ids(smtp: SmtpServer) -> list[int]:
    """Rows of the guide link emails the SMTP server received (one per delivery)."""
    return [int(m.message["X-Cabos-Guide-Mail"]) for m in list(smtp.messages) if m.message["X-Cabos-Guide-Mail"]]


def request_log_statuses(*processes: Instance) -> Counter[int]:
    """Statuses of every request the instances logged (one JSON line each)."""
    statuses: Counter[int] = Counter()
    for process in processes:
        for line in process.output().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "status" in record:
                statuses[int(record["status"])] += 1
    return statuses


def test_two_instances_and_two_workers_share_one_database(cluster: Cluster, session: Session,
                                                          smtp_server: SmtpServer) -> None:
    cluster.settings["CABOS_FORM_RATE_LIMIT"] = "3 per minute"
    a, b = cluster.instance("app-a"), cluster.instance("app-b")
    workers = [cluster.worker("worker-1"), cluster.worker("worker-2")]
    articles, guides = paths(a, "articulos"), paths(a, "guias")
    assert len(articles) >= 10 and guides
    rng = random.Random(9)

    # Readings: every page view's beacons go to both instances, depth growing; each view is one event.
    readers = [Reader(f"203.0.113.{n}") for n in range(1, 13)]
    expected: dict[tuple[int, str], tuple[int, int]] = {}  # (reader, nonce) -> (engaged_ms, scroll_pct)
    for n, reader in enumerate(readers):
        for path in rng.sample(articles, 2):
            _, _, token = reader.read(rng.choice([a, b]), path)
            nonce = view_nonce()
            for seq, instance in enumerate([a, b, a]):
                engaged, scroll = 4000 * (seq + 1), 30 * (seq + 1)
                assert reader.beacon(instance, token, nonce, engaged, scroll, seq=seq).status_code == 204
            expected[(n, nonce)] = (12000, 90)
    visitor_ids = [r.http.cookies.get("cabos_vid") for r in readers]
    assert all(visitor_ids), "every reader got a visitor cookie"

    # Identified on b: the reader who read through a and b becomes a contact, with their trail.
    first = readers[0]
    answer = first.fill_form(b, guides[0], email="ana@almacenes.test")
    assert answer.status_code == 303, answer.text[:500]
    contact = wait_for(lambda: session.scalar(select(Contact).where(Contact.email == "ana@almacenes.test")),
                       10, "the contact")
    # ... and known on a: what they read next on a is theirs at once.
    _, _, token = first.read(a, articles[0])
    assert first.beacon(a, token, view_nonce(), 3000, 20).status_code == 204

    def trail() -> list[Event]:
        session.expire_all()
        return list(session.scalars(select(Event).where(Event.type == "reading", Event.contact_id == contact.id)))

    wait_for(lambda: len(trail()) == 3, 15, "the contact's three readings")
    visitor = session.get(Visitor, trail()[0].visitor_id)
    assert visitor is not None and visitor.contact_id == contact.id

    # Every other reader asks for a guide on either instance (consent ticked): each is due a welcome email.
    for reader in readers[1:]:
        email = f"lector{reader.address.rsplit('.', 1)[1]}@almacenes.test"
        answer = reader.fill_form(rng.choice([a, b]), rng.choice(guides), email=email)
        assert answer.status_code == 303, answer.text[:500]

    # The form limit (3 per minute per address) holds across instances: the fourth post is refused.
    spammer = Reader("192.0.2.66")
    codes = [spammer.fill_form(instance, guides[0], email="").status_code for instance in (a, b, a, b)]
    assert codes == [422, 422, 422, 429], codes

    # Each clicks the consent link (double opt-in), so each is due a welcome email;
    # both workers tick, and each due email reaches the SMTP server once.
    assert click_consent_links(session, "%@almacenes.test") == len(readers)
    wait_for(lambda: len(set(outbox_ids(smtp_server))) >= len(readers), 90, "one welcome email per contact")
    # The form's emails come from the workers too (a form only queues them): per form one email, the
    # guide link with, the box being ticked by a new contact, the consent to confirm beneath it.
    wait_for(lambda: len(set(guide_mail_ids(smtp_server))) >= len(readers), 90, "one email per form")
    for worker in workers:  # let both tick a few more times: nothing more may go out
        worker.stop()
    for worker in workers:
        assert worker.popen.returncode == 0, worker.output()[-2000:]
    delivered = outbox_ids(smtp_server)
    assert len(delivered) == len(set(delivered)) == len(readers), Counter(delivered).most_common(3)
    session.expire_all()
    rows = list(session.scalars(select(OutboxMessage)))
    assert sorted(r.id for r in rows if r.status == SENT) == sorted(delivered)
    welcome = {m.rcpt_tos[0] for m in smtp_server.messages if m.message["X-Cabos-Outbox"]}
    assert len(welcome) == len(readers)
    guide_mails = guide_mail_ids(smtp_server)
    assert len(guide_mails) == len(set(guide_mails)) == len(readers), Counter(guide_mails).most_common(3)
    kinds = Counter(session.scalars(select(GuideMail.kind).where(GuideMail.id.in_(guide_mails))))
    assert kinds == {FORM: len(readers)}, kinds

    # Stopped gracefully, the instances have written everything they accepted: one event per view.
    for instance in (a, b):
        assert instance.stop() == 0, instance.output()[-2000:]
    session.expire_all()
    stored = list(session.scalars(select(Event).where(Event.type == "reading")))
    assert len(stored) == len(expected) + 1
    assert len({e.view_id for e in stored}) == len(stored)
    assert len({e.visitor_id for e in stored}) == len(readers)  # one visitor per browser, on both instances
    deepest = [e for e in stored if e.engaged_ms == 12000 and e.scroll_pct == 90]
    assert len(deepest) == len(expected), "each view keeps its deepest beacon, whichever instance got it"
    statuses = request_log_statuses(a, b)
    assert statuses[500] == 0 and statuses[204] >= 3 * len(expected), statuses


def test_a_content_reload_on_one_instance_needs_nothing_from_the_others(cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import signal

    from tests.production.conftest import ROOT

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    cluster.settings["CABOS_CONTENT_DIR"] = str(content)
    # b with one worker: once it answers, everything it serves was loaded before the edit below.
    # (With two, the second worker may still be booting, and read the edited file: CI saw that.)
    a, b = cluster.instance("app-a"), cluster.instance("app-b", workers=1)
    reader = Reader("203.0.113.77")
    path = paths(a, "articulos")[0]
    article = next(p for p in (content / "articles").glob("*.md") if p.stem in path)
    article.write_text(article.read_text(encoding="utf-8").replace("\n---\n", "\n---\n\nPárrafo recién publicado.\n", 1),
                       encoding="utf-8")
    a.signal(signal.SIGHUP)  # what `systemctl reload cabos` sends: gunicorn starts fresh workers
    def page_on_a() -> str:
        try:
            return reader.get(a, path).text
        except (requests.ConnectionError, requests.Timeout):  # a kept-alive connection to a worker that
            return ""  # has just gone, or fresh workers still booting (seconds on a loaded machine)

    wait_for(lambda: "Párrafo recién publicado." in page_on_a(), 60, "the new text on a")
    assert "Párrafo recién publicado." not in reader.get(b, path).text  # b still serves what it loaded
    assert reader.get(b, "/healthz").status_code == 200


def test_a_staff_sign_in_holds_on_every_instance_and_ends_on_every_instance(cluster: Cluster) -> None:
    created = cluster.run("users", "add", "lucia@estiba.test", "--role", "marketer", "--generate-password")
    assert created.returncode == 0, created.stderr
    password = created.stdout.split("password: ", 1)[1].split()[0]
    # One worker each: what is shared here is between instances (a database), not within one.
    a, b = cluster.instance("app-a", workers=1), cluster.instance("app-b", workers=1)
    staff = Reader("198.51.100.20")
    page = staff.get(a, "/staff/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = staff.http.post(a.url + "/staff/login", allow_redirects=False, timeout=10,
                                data={"csrf_token": token.group(1), "email": "lucia@estiba.test",
                                      "password": password})
    assert signed_in.status_code == 302, signed_in.text[:300]
    assert staff.get(b, "/staff/queue").status_code == 200  # the session cookie is good on b
    ended = cluster.run("users", "deactivate", "lucia@estiba.test")
    assert ended.returncode == 0, ended.stderr
    for instance in (a, b):  # the account ended in the shared database: no instance lets it in
        assert staff.get(instance, "/staff/queue").status_code in (302, 401, 403)
