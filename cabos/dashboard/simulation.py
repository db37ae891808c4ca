"""The simulated months behind `cabos demo`: people reading, filling in forms, clicking emails; sales answering.

Every step goes through the app: HTTP requests to it through the Flask test client (each
simulated person has their own cookie jar), or the domain functions its edges call
(``intent.store.update_contact``, the nurture tick, ``sales.outcomes.record_outcome``).
Steps run in time order, each at its own moment under ``time_machine``: request handlers
read the clock themselves.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import time_machine
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select

from cabos import db
from cabos.contacts import proof
from cabos.contacts.models import Contact, PendingSubmission
from cabos.content import Document, Library
from cabos.content.urls import document_url, site_url
from cabos.intent import store as intent_store
from cabos.nurture import tick
from cabos.nurture.links import click_token
from cabos.nurture.models import SENT, OutboxMessage
from cabos.nurture.routes import written_targets
from cabos.sales.models import Handoff
from cabos.sales.outcomes import OutcomeError, OutcomeInput, record_outcome
from cabos.sales.policy import policy_of
from cabos.staff.models import StaffUser
from cabos.tracking import tokens

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIRST = ("Lucía", "Javier", "Marta", "Pablo", "Elena", "Diego", "Carmen", "Sergio", "Laura", "Andrés", "Nuria",
         "Raúl", "Irene", "Tomás", "Alba", "Héctor", "Rocío", "Iván", "Sara", "Óscar")
LAST = ("García", "Martín", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Álvarez", "Romero",
        "Navarro", "Torres", "Gil", "Serrano", "Molina", "Ortega", "Castro", "Vidal", "Herrera")
COMPANIES = ("Distribuciones", "Suministros", "Logística", "Recambios", "Cosmética", "Alimentación", "Moda",
             "Ferretería", "Papelería", "Farma")
PLACES = ("Levante", "Norte", "Ibérica", "del Sur", "Atlántico", "Central", "Mediterráneo", "Andina")
GOOD_ROLES = ("Responsable de almacén", "Director de operaciones", "Jefa de logística", "Gerente", "COO")
OTHER_ROLES = ("Técnico de compras", "Administración", "Estudiante en prácticas", "Consultor", "Comercial")
SOURCES = ((("utm_source", "google"), ("utm_medium", "cpc"), ("utm_campaign", "sga-2026")),
           (("utm_source", "linkedin"), ("utm_medium", "social"), ("utm_campaign", "inventario")),
           (("utm_source", "newsletter"), ("utm_medium", "email"), ("utm_campaign", "mensual")))
REFERRERS = ("https://www.google.com/", "https://www.google.es/", "https://www.bing.com/", "https://www.linkedin.com/",
             "", "", "")


def _address(first: str, last: str, n: int, company: str) -> str:
    """A unique, plainly fake address: ``lucia.garcia.12@distribuciones-demo.example``."""
    local = f"{first}.{last}.{n}@{company.split()[0]}-demo.example".lower()
    # Transliterated, not dropped: "López" → "lopez", "Alimentación" → "alimentacion", "Peña" → "pena".
    plain = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return plain.replace(" ", "")


class _Form(HTMLParser):
    """The first POST form of a page: its fields with a value to send (first real option of a select)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self._in_form = self._done = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and not self._done:
            self._in_form = True
        elif self._in_form and tag == "input" and a.get("name"):
            if a.get("type") not in ("checkbox", "submit"):
                self.fields[a["name"]] = a.get("value", "")
            elif a.get("type") == "checkbox":
                self.options[a["name"]] = ["y"]
        elif self._in_form and tag == "select":
            self._select = a.get("name")
            self.options[self._select or ""] = []
        elif self._in_form and tag == "option" and self._select and a.get("value"):
            self.options[self._select].append(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


@dataclass
class Person:
    """One simulated reader: a browser of their own (cookie jar), an interest, what they will do."""

    n: int
    client: FlaskClient
    problem: str
    kind: str  # 'drifter' | 'reader' | 'lead' | 'buyer'
    name: str
    email: str
    company: str
    role: str
    size: str
    country: str
    contact_id: int | None = None
    visits: int = 0
    guide: str | None = None


@dataclass
class Summary:
    visitors: int = 0
    page_views: int = 0
    contacts: int = 0
    handoffs: int = 0
    won: int = 0
    revenue_cents: int = 0
    emails_sent: int = 0
    clicks: int = 0
    confirmed: int = 0  # people who clicked the emailed consent confirmation (double opt-in)
    password: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Simulation:
    """Runs the months of history in time order; every step at its own simulated moment."""

    def __init__(self, app: Flask, library: Library, start: datetime, end: datetime, people: int, seed: int) -> None:
        self.app, self.library, self.start, self.end = app, library, start, end
        self.rng = random.Random(seed)
        self.people_count = people
        self.summary = Summary()
        self.queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = 0
        self.by_stage: dict[str, list[Document]] = {}
        for doc in library.articles.values():
            self.by_stage.setdefault(doc.stage or "learn", []).append(doc)
        self.problems = list(library.problems)
        self.people_by_contact: dict[int, Person] = {}
        self._epoch = -1
        self._last_handoff = 0  # handoffs up to this id have been given to a salesperson
        self.policy = policy_of(library)

    # -- the clock --------------------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        if when < self.end:
            self._order += 1
            self.queue.append((when, self._order, action))

    def run(self) -> None:
        while self.queue:
            self.queue.sort(key=lambda item: (item[0], item[1]), reverse=True)
            when, _order, action = self.queue.pop()
            with time_machine.travel(when, tick=False):
                action()

    # -- people -----------------------------------------------------------------------------------

    def make_people(self) -> list[Person]:
        people = []
        for n in range(self.people_count):
            roll = self.rng.random()
            kind = "drifter" if roll < 0.45 else "reader" if roll < 0.62 else "lead" if roll < 0.91 else "buyer"
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            good = kind == "buyer" or self.rng.random() < 0.45
            client = self.app.test_client()
            client.environ_base.update({"REMOTE_ADDR": f"203.0.113.{n % 250 + 1}", "HTTP_USER_AGENT": USER_AGENT})
            company = f"{self.rng.choice(COMPANIES)} {self.rng.choice(PLACES)}"
            people.append(Person(
                n, client, self.rng.choice(self.problems), kind, f"{first} {last}",
                _address(first, last, n, company),
                company, self.rng.choice(GOOD_ROLES if good else OTHER_ROLES),
                self.rng.choice(("50-249", "250-999") if good else ("1-9", "10-49", "1000+")),
                self.rng.choice(("España", "México", "Colombia", "Chile", "España", "España"))))
        return people

    def plan(self, person: Person) -> None:
        span = (self.end - self.start).total_seconds()
        first = self.start + timedelta(seconds=self.rng.uniform(0, span * 0.92))
        visits = {"drifter": 1, "reader": self.rng.randint(2, 5), "lead": self.rng.randint(3, 7),
                  "buyer": self.rng.randint(5, 9)}[person.kind]
        when = first.replace(hour=self.rng.randint(8, 19), minute=self.rng.randint(0, 59))
        form_visit = self.rng.randint(1, max(1, min(3, visits - 1))) if person.kind in ("lead", "buyer") else -1
        for v in range(visits):
            self.at(when, lambda p=person, v=v, fv=form_visit, last=(v == visits - 1): self.visit(p, v, fv, last))
            when += timedelta(days=self.rng.expovariate(1 / (4 if person.kind == "buyer" else 9)),
                              minutes=self.rng.randint(0, 300))

    # -- what a person does -------------------------------------------------------------------------

    def pick(self, person: Person, visit: int, last: bool) -> list[Document]:
        """What this visit reads: learn first, then compare; buyers end on decide, pricing and demo."""
        on_problem = [d for d in self.library.articles.values() if person.problem in d.problems]
        stage = "learn" if visit == 0 else "compare" if visit < 3 else "decide"
        if person.kind != "buyer" and stage == "decide" and self.rng.random() < 0.7:
            stage = "compare"
        pool = [d for d in on_problem if d.stage == stage] or on_problem or list(self.library.articles.values())
        docs = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 3)))
        if person.kind == "buyer" and (last or visit >= 4):
            docs += [d for d in (self.library.pages.get("precios"), self.library.pages.get("demo")) if d is not None]
        return docs

    def visit(self, person: Person, n: int, form_visit: int, last: bool) -> None:
        if person.visits == 0:
            self.summary.visitors += 1
        person.visits += 1
        moment = datetime.now(UTC)
        for i, doc in enumerate(self.pick(person, n, last)):
            self.read(person, doc, moment, first=(n == 0 and i == 0))
            moment += timedelta(minutes=self.rng.randint(3, 12))
        if n == form_visit:
            guides = [g for g in self.library.guides.values() if person.problem in g.problems] or \
                list(self.library.guides.values())
            self.at(moment, lambda: self.fill_form(person, self.rng.choice(guides)))
        elif person.contact_id is not None:
            self.at(moment, lambda: self.rescore(person))

    def read(self, person: Person, doc: Document, when: datetime, first: bool) -> None:
        """A page view: GET the page, then the tracker's beacon when the reader leaves."""
        buyer = person.kind == "buyer"
        engaged = int(self.rng.lognormvariate(4.3 if buyer else 3.9, 0.8) * 1000)
        if self.rng.random() < 0.12:
            engaged = self.rng.randint(0, 4000)  # opened and left
        engaged = min(engaged, 900_000)
        scroll = min(100, int(15 + engaged / 2500 + self.rng.randint(0, 25)))
        query = ""
        referrer = ""
        if first:
            if self.rng.random() < 0.35:
                query = "?" + "&".join(f"{k}={v}" for k, v in self.rng.choice(SOURCES))
            else:
                referrer = self.rng.choice(REFERRERS)
        with self.app.app_context(), self.app.test_request_context():
            path = document_url(doc)
        with time_machine.travel(when, tick=False):
            self._fresh_page_tokens()
            page = person.client.get(path + query, headers={"Referer": referrer} if referrer else {})
        match = re.search(r'data-view="([^"]+)"', page.get_data(as_text=True))
        if page.status_code != 200 or match is None:
            self.summary.notes.append(f"{path}: {page.status_code}, no tracked view")
            return
        self.summary.page_views += 1
        age = engaged + self.rng.randint(2000, 60_000)
        beacon = {"token": match.group(1), "nonce": secrets.token_hex(16), "seq": 0, "engaged_ms": engaged,
                  "scroll_pct": scroll, "read_to_end": scroll >= 100, "age_ms": age, "ctas": [],
                  "query": query, "referrer": referrer, "dnt": False, "webdriver": False}
        with time_machine.travel(when + timedelta(milliseconds=age), tick=False):
            person.client.post("/t/e", data=json.dumps(beacon), content_type="text/plain;charset=UTF-8",
                               headers={"Origin": "http://localhost"})

    def _fresh_page_tokens(self) -> None:
        """Empty the page cache when page tokens change period.

        Public pages are cached with their page token but the cache key does not carry
        ``tokens.token_epoch()``, so a process living longer than
        TRACKING_VIEW_TOKEN_MAX_AGE would serve tokens the beacon endpoint refuses; months
        pass in minutes here, so the demo empties the cache at each token period.
        """
        with self.app.app_context():
            epoch = tokens.token_epoch()
        if epoch != self._epoch:
            self._epoch = epoch
            self.app.extensions["cabos.page_cache"].clear()

    def fill_form(self, person: Person, guide: Document) -> None:
        """The guide's lead form, as a person fills it in; then the download link from the thanks page."""
        with self.app.test_request_context():
            path = document_url(guide)
        page = person.client.get(path)
        form = _Form()
        form.feed(page.get_data(as_text=True))
        data = dict(form.fields)
        data.update({"email": person.email, "name": person.name, "website": ""})
        known = {"company": person.company, "role": person.role, "country": person.country}
        for name in data:
            if name.removeprefix("f_") in known:
                data[name] = known[name.removeprefix("f_")]
        for name, options in form.options.items():
            if name.removeprefix("f_") == "company_size":
                data[name] = person.size
            elif name.removeprefix("f_") == "sector":
                data[name] = "Distribución" if person.kind == "buyer" else self.rng.choice(options)
            elif options:
                data[name] = self.rng.choice(options)
        for name in data:
            if not data[name] and name not in ("website", "ref"):
                data[name] = "SAP Business One" if name.endswith("erp") else "—"
        response = person.client.post(path, data=data)
        if response.status_code != 303:
            self.summary.notes.append(f"form {guide.slug}: {response.status_code}")
            return
        thanks = person.client.get(response.headers["Location"])
        link = re.search(r'href="([^"]+token=[^"]+)"', thanks.get_data(as_text=True))
        if link is not None and self.rng.random() < 0.8:
            person.client.get(link.group(1).replace("&amp;", "&")).close()  # the PDF: a file to close
        with db.session_scope(self.app) as session:
            person.contact_id = session.scalar(select(Contact.id).where(Contact.email == person.email))
        if person.contact_id is not None:
            self.people_by_contact[person.contact_id] = person
        person.guide = guide.slug
        self.rescore(person)
        if data.get("consent") and self.rng.random() < 0.75:  # most who tick the box confirm it, later
            self.at(datetime.now(UTC) + timedelta(minutes=self.rng.uniform(3, 36 * 60)), lambda: self.confirm(person))

    def confirm(self, person: Person) -> None:
        """The person clicks the consent confirmation in the guide's email: what its button runs."""
        if person.contact_id is None:
            return
        now = datetime.now(UTC)
        with self.app.app_context(), db.session_scope(self.app) as session:
            pending = session.scalars(select(PendingSubmission).where(
                PendingSubmission.contact_id == person.contact_id, PendingSubmission.confirmed_at.is_(None))
                .order_by(PendingSubmission.id)).first()
            doc = self.library.document(pending.content_kind, pending.content_slug) if pending else None
            if pending is None or doc is None or proof.confirm(session, pending, doc, None, now) is None:
                return
            session.commit()
        self.summary.confirmed += 1

    def rescore(self, person: Person) -> None:
        """The intent update after new activity; nurture and sales react to what it announces."""
        if person.contact_id is None:
            return
        now = datetime.now(UTC)
        with self.app.app_context(), db.session_scope(self.app) as session:
            intent_store.update_contact(session, person.contact_id, now)
        self.follow_handoffs()

    def follow_handoffs(self) -> None:
        """Give every handoff not seen yet to its salesperson, whatever made it (a rescore, a nurture tick)."""
        now = datetime.now(UTC)
        with self.app.app_context(), db.session_scope(self.app) as session:
            new = session.execute(select(Handoff.id, Handoff.contact_id).where(Handoff.id > self._last_handoff)
                                  .order_by(Handoff.id)).all()
        for handoff_id, contact_id in new:
            self._last_handoff = handoff_id
            person = self.people_by_contact.get(contact_id)
            if person is None:
                continue
            self.summary.handoffs += 1
            self.at(now + timedelta(hours=self.rng.uniform(1, 40)), lambda h=handoff_id, p=person: self.respond(h, p))

    # -- nurture ------------------------------------------------------------------------------------

    def nurture_day(self) -> None:
        """The daily nurture tick; some recipients click a link in what they got."""
        now = datetime.now(UTC)
        with self.app.app_context():
            tick.run_tick(self.app, now)
        self.follow_handoffs()
        with self.app.app_context():
            with db.session_scope(self.app) as session:
                sent = session.scalars(select(OutboxMessage).where(
                    OutboxMessage.status == SENT, OutboxMessage.sent_at > now - timedelta(days=1),
                    OutboxMessage.sent_at <= now).order_by(OutboxMessage.id)).all()  # one order on every database
                rows = [(r.id, r.email, r.contact_id) for r in sent]
            self.summary.emails_sent += len(rows)
            base = site_url()
            for outbox_id, email, contact_id in rows:
                if self.rng.random() > 0.3:
                    continue
                targets = sorted(t for t in written_targets(email, base) if t.startswith(base))
                if not targets:
                    continue
                token = click_token(self.app.secret_key, outbox_id, self.rng.choice(targets))  # type: ignore[arg-type]
                person = self.people_by_contact.get(contact_id)
                if person is None:
                    continue
                with self.app.test_request_context():
                    path = url_for("nurture.click", token=token)
                later = now + timedelta(hours=self.rng.uniform(1, 20))
                self.at(later, lambda p=person, u=path: self.click(p, u))
        tomorrow = now + timedelta(days=1)
        self.at(tomorrow, self.nurture_day)

    def click(self, person: Person, path: str) -> None:
        response = person.client.get(path)
        if response.status_code == 302:
            self.summary.clicks += 1
            target = response.headers["Location"]
            doc = self._doc_at(target)
            if doc is not None:
                self.read(person, doc, datetime.now(UTC) + timedelta(seconds=2), first=False)
            self.rescore(person)

    def _doc_at(self, url: str) -> Document | None:
        path = re.sub(r"^https?://[^/]+", "", url).split("?")[0]
        with self.app.test_request_context():
            for doc in self.library.articles.values():
                if document_url(doc) == path:
                    return doc
        return None

    # -- sales --------------------------------------------------------------------------------------

    def respond(self, handoff_id: int, person: Person) -> None:
        """The salesperson's first answer; an accepted deal is won or lost some weeks later."""
        now = datetime.now(UTC)
        good = person.kind == "buyer"
        roll = self.rng.random()
        kind = "accepted" if (good and roll < 0.85) or roll < 0.35 else "sent_back" if roll < 0.92 else "disqualified"
        self._outcome(handoff_id, kind, now)
        if kind == "accepted":
            self.at(now + timedelta(days=self.rng.uniform(8, 45)), lambda: self.close(handoff_id, good))

    def close(self, handoff_id: int, good: bool) -> None:
        won = self.rng.random() < (0.6 if good else 0.25)
        self._outcome(handoff_id, "won" if won else "lost", datetime.now(UTC))

    def _outcome(self, handoff_id: int, kind: str, now: datetime) -> None:
        reasons = self.policy.reasons.get(kind, ())
        with self.app.app_context(), db.session_scope(self.app) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None or handoff.status not in ("new", "accepted"):
                return
            by = session.get(StaffUser, handoff.assigned_to) if handoff.assigned_to else None
            revenue = self.rng.choice((6_000, 9_500, 12_000, 18_000, 24_000, 36_000, 48_000)) * 100 if kind == "won" \
                else None
            try:
                record_outcome(session, handoff, OutcomeInput(kind, reason=self.rng.choice(reasons) if reasons else "",
                                                              revenue_cents=revenue, currency=self.policy.currency),
                               by, now)
            except OutcomeError as exc:
                self.summary.notes.append(f"outcome {kind}: {exc}")
                return
        if kind == "won":
            self.summary.won += 1
            self.summary.revenue_cents += revenue or 0
