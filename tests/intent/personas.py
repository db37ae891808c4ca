"""Labelled buyer journeys driven through the site's HTTP surface on a moved clock, with ground truth.

Each persona is a person (one browser, or two: laptop and phone) who reads the
demo site's articles (a GET of the page, then the tracker's beacon), fills in a
guide form, sometimes asks for a demo (the forms issue's ``hand_raise`` event
and ``intent.hooks.after_form``), all at their own simulated moments under
``time_machine``. Ground truth says, for every moment, whether the person is
*choosing* (buying) or not, from what the persona is, never from the rules:

* learner: reads to learn around one problem for weeks: never buying;
* researcher: journalist, analyst or student: one or two sittings of twenty-odd
  pieces across every problem, a minute each: never buying;
* evaluator: learn → compare → decide on one problem over two or three weeks,
  case studies read in full, pricing: buying from their first decide-stage read;
* ready buyer: arrives knowing what they want: a case study, pricing, a demo
  request within two days: buying from the first of those;
* quiet buyer: an evaluator who stops after choosing started: buying until two
  weeks after their last visit (they bought elsewhere or gave up);
* competitor: reads like a buyer from a competitor's domain: never buying;
* two devices: an evaluator reading on a laptop and a phone, identified on both;
* bot: a crawler reading everything: never a contact.

``Checkpoints`` every 12 hours compare the stored mode (``current_state``, decay
on read) with the truth; ``report`` gives precision and recall of purchase mode,
detection delay and handoff precision.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cabos import db
from cabos.contacts.models import Contact
from cabos.content import Document
from cabos.content.urls import document_url
from cabos.dashboard.simulation import _Form
from cabos.intent.hooks import after_form
from cabos.intent.store import current_state
from cabos.nurture.links import click_token
from cabos.nurture.models import Enrolment, OutboxMessage
from cabos.sales.models import Handoff
from cabos.tracking import tokens
from cabos.tracking.models import Event

BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
KINDS = ("learner", "researcher", "evaluator", "ready", "quiet", "competitor", "devices", "bot")
BUYERS = ("evaluator", "ready", "quiet", "devices")
GOOD_FIT = {"role": "Directora de operaciones", "company_size": "50-249", "sector": "Distribución",
            "country": "España"}
MODERATE_FIT = {"role": "Analista", "company_size": "250-999", "sector": "Distribución", "country": "España"}


def persona_app(make_app: Callable[[dict[str, Any]], Flask], base: dict[str, Any]) -> Flask:
    """An app for simulation (as `cabos demo` makes one): beacons and downloads written at once, rate limits out of reach."""
    return make_app({**base, "TRACKING_FLUSH_MS": 0, "DOWNLOAD_EVENTS_FLUSH_MS": 0,
                     "TRACKING_RATE_LIMIT": "1000000 per minute", "FORM_RATE_LIMIT": "1000000 per minute"})


@dataclass
class Persona:
    n: int
    kind: str
    email: str
    profile: dict[str, str]
    clients: list[FlaskClient]
    contact_id: int | None = None
    buying_from: datetime | None = None  # truth: choosing from then …
    buying_until: datetime | None = None  # … until then (None: to the end)
    decisive_at: datetime | None = None  # first decisive evidence (detection delay counts from it)
    last_activity: datetime | None = None

    def buying(self, at: datetime) -> bool:
        return self.buying_from is not None and self.buying_from <= at and \
            (self.buying_until is None or at < self.buying_until)


@dataclass
class Checkpoint:
    persona: int
    kind: str
    at: datetime
    truth: bool
    purchase: bool


@dataclass
class World:
    app: Flask
    start: datetime
    days: int
    seed: int = 7
    personas: list[Persona] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    queue: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _order: int = 0
    _epoch: int | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        with self.app.app_context():
            library = self.app.extensions["cabos.content"].current()
        self.library = library
        self.articles = list(library.articles.values())
        self.problems = sorted(library.problems)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    # -- the clock -------------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        if when < self.end:
            self._order += 1
            self.queue.append((when, self._order, action))

    def run(self) -> None:
        t = self.start
        while t <= self.end:
            self.at(t, lambda t=t: self.checkpoint(t))
            t += timedelta(hours=12)
        self.queue.sort(key=lambda item: (item[0], item[1]))
        while self.queue:
            when, _order, action = self.queue.pop(0)
            with time_machine.travel(when, tick=False):
                action()
            # actions may have scheduled more (rare): keep time order
            self.queue.sort(key=lambda item: (item[0], item[1]))

    # -- what people do ----------------------------------------------------------------------

    def client(self, ua: str = BROWSER) -> FlaskClient:
        c = self.app.test_client()
        c.environ_base.update({"REMOTE_ADDR": f"198.51.100.{len(self.personas) % 250 + 1}",
                               "HTTP_USER_AGENT": ua})
        return c

    def read(self, p: Persona, doc: Document, seconds: float, device: int = 0) -> None:
        """A page view: GET the page, then the tracker's beacon when the reader leaves."""
        with self.app.test_request_context():
            path = document_url(doc)
        with self.app.app_context():
            epoch = tokens.token_epoch()
        if epoch != self._epoch:  # months pass in minutes: page tokens change period (see cabos demo)
            self._epoch = epoch
            self.app.extensions["cabos.page_cache"].clear()
        client = p.clients[device]
        page = client.get(path)
        match = re.search(r'data-view="([^"]+)"', page.get_data(as_text=True))
        if page.status_code != 200 or match is None:
            self.notes.append(f"{path}: {page.status_code}")
            return
        engaged = int(seconds * 1000)
        age = engaged + 3000
        beacon = {"token": match.group(1), "nonce": secrets.token_hex(16), "seq": 0, "engaged_ms": engaged,
                  "scroll_pct": min(100, int(20 + seconds / 2)), "read_to_end": seconds > 150, "age_ms": age,
                  "ctas": [], "query": "", "referrer": "", "dnt": False, "webdriver": False}
        with time_machine.travel(datetime.now(UTC) + timedelta(milliseconds=age), tick=False):
            client.post("/t/e", data=json.dumps(beacon), content_type="text/plain;charset=UTF-8",
                        headers={"Origin": "http://localhost"}, buffered=True)
        p.last_activity = datetime.now(UTC)

    def click_email(self, p: Persona, device: int) -> None:
        """The second device is identified by a click in a nurture email (a known address in a new browser
        filling a form only gets a confirmation email)."""
        if p.contact_id is None:
            return
        now = datetime.now(UTC)
        with self.app.app_context(), db.session_scope(self.app) as session:
            enrolment = Enrolment(contact_id=p.contact_id, sequence="personas", status="exited", next_step=None)
            session.add(enrolment)
            session.flush()
            row = OutboxMessage(enrolment_id=enrolment.id, contact_id=p.contact_id, sequence="personas",
                                step="s1", email="none", due_at=now)
            session.add(row)
            session.flush()
            token = click_token(self.app.secret_key, row.id, "http://localhost/")  # type: ignore[arg-type]
        p.clients[device].get(f"/e/c/{token}")

    def identify(self, p: Persona, device: int = 0) -> None:
        """The lead form of a guide on the persona's problem, as a person fills it in."""
        guide = self.rng.choice(list(self.library.guides.values()))
        with self.app.test_request_context():
            path = document_url(guide)
        client = p.clients[device]
        form = _Form()
        form.feed(client.get(path).get_data(as_text=True))
        data = dict(form.fields)
        data.update({"email": p.email, "name": f"Persona {p.n}", "website": ""})
        for name in list(data) + list(form.options):
            key = name.removeprefix("f_")
            if key in p.profile:
                data[name] = _choice(p.profile[key], form.options.get(name))
            elif name in form.options and form.options[name] and not data.get(name):
                data[name] = form.options[name][0]
            elif not data.get(name) and name not in ("website", "ref"):
                data[name] = "—"  # a required free-text answer
        response = client.post(path, data=data)
        if response.status_code != 303:
            errors = re.findall(r'class="error"[^>]*>([^<]+)<', response.get_data(as_text=True))
            self.notes.append(f"form {guide.slug}: {response.status_code} {errors[:2]} {data}")
            return
        with db.session_scope(self.app) as session:
            p.contact_id = session.scalar(select(Contact.id).where(Contact.email == p.email))

    def raise_hand(self, p: Persona, kind: str = "demo") -> None:
        """A demo request: what the forms issue stores, then its hook (the #14 contract)."""
        if p.contact_id is None:
            return
        now = datetime.now(UTC)
        with self.app.app_context(), db.session_scope(self.app) as session:
            session.add(Event(type="hand_raise", occurred_at=now, contact_id=p.contact_id,
                              data={"form": "pedir-demo", "kind": kind, "message": "¿Podemos ver una demo?"}))
            session.flush()
            after_form(session, p.contact_id, now)
        p.last_activity = now

    def checkpoint(self, t: datetime) -> None:
        with self.app.app_context(), db.session_scope(self.app) as session:
            for p in self.personas:
                if p.contact_id is None:
                    continue
                state = current_state(session, p.contact_id, t)
                purchase = state is not None and state.mode == "purchase"
                self.checkpoints.append(Checkpoint(p.n, p.kind, t, p.buying(t), purchase))

    # -- the journeys -------------------------------------------------------------------------

    def on(self, problem: str, stage: str) -> list[Document]:
        return [d for d in self.articles if problem in d.problems and d.stage == stage]

    def pace(self, doc: Document, wpm: float) -> float:
        return doc.words / wpm * 60

    def add(self, kind: str) -> Persona:
        n = len(self.personas)
        domain = {"competitor": "sgalogic.es"}.get(kind, f"empresa{n}.es")
        profile = MODERATE_FIT if kind == "researcher" else GOOD_FIT
        clients = [self.client(BOT if kind == "bot" else BROWSER)]
        if kind == "devices":
            clients.append(self.client(PHONE))
        p = Persona(n, kind, f"persona{n}@{domain}", dict(profile), clients)
        self.personas.append(p)
        getattr(self, f"plan_{kind}")(p, self.start + timedelta(days=self.rng.uniform(0, self.days * 0.5),
                                                                hours=self.rng.uniform(8, 11)))
        return p

    def visit(self, p: Persona, when: datetime, docs: list[tuple[Document, float]], device: int = 0) -> datetime:
        """Read ``docs`` one after another from ``when`` (seconds each); return when the visit ends."""
        for doc, seconds in docs:
            self.at(when, lambda d=doc, s=seconds: self.read(p, d, s, device))
            when += timedelta(seconds=seconds + self.rng.uniform(20, 90))
        return when

    def plan_learner(self, p: Persona, t: datetime) -> None:
        problem = self.rng.choice(self.problems)
        self.at(t, lambda: self.identify(p))
        for _ in range(self.rng.randint(4, 7)):
            t += timedelta(days=self.rng.uniform(2, 6))
            pool = self.on(problem, "learn") + self.on(problem, "compare")[:1]
            docs = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 3)))
            self.visit(p, t, [(d, self.pace(d, self.rng.uniform(180, 260))) for d in docs])

    def plan_researcher(self, p: Persona, t: datetime) -> None:
        self.at(t, lambda: self.identify(p))
        for sitting in range(self.rng.randint(1, 2)):
            t += timedelta(days=sitting * self.rng.uniform(1, 4), minutes=5)
            docs = self.rng.sample(self.articles, k=self.rng.randint(15, 24))
            self.visit(p, t, [(d, self.rng.uniform(40, 80)) for d in docs])

    def _evaluate(self, p: Persona, t: datetime, device_for: Callable[[int], int] = lambda i: 0,
                  quiet: bool = False) -> None:
        problem = self.rng.choice(self.problems)
        self.at(t, lambda: self.identify(p))
        if len(p.clients) > 1:
            self.at(t + timedelta(days=1, hours=2), lambda: self.click_email(p, device=1))
        learn, compare, decide = self.on(problem, "learn"), self.on(problem, "compare"), self.on(problem, "decide")
        steps = [("learn", d) for d in self.rng.sample(learn, k=min(2, len(learn)))]
        steps += [("compare", d) for d in compare[:2]]
        steps += [("decide", d) for d in decide] + [("pricing", self.library.pages["precios"])]
        if not quiet:
            steps += [("decide", d) for d in self.rng.sample(self.articles, k=1) if d.stage == "decide"]
            steps += [("pricing", self.library.pages["precios"])]
        for i, (stage, doc) in enumerate(steps):
            t += timedelta(days=self.rng.uniform(0.5, 3), hours=self.rng.uniform(0, 4))
            seconds = 45 if stage == "pricing" else self.pace(doc, self.rng.uniform(170, 300))
            if stage == "decide" and p.buying_from is None:
                p.buying_from = p.decisive_at = t
            self.visit(p, t, [(doc, seconds)], device=device_for(i))
        if quiet:
            p.buying_until = t + timedelta(days=14)
        else:
            self.keep_choosing(p, t, problem, device_for(len(steps)))

    def keep_choosing(self, p: Persona, t: datetime, problem: str, device: int = 0) -> None:
        """A buying process lasts: back to pricing or a case study every week or so, until the end."""
        while True:
            t += timedelta(days=self.rng.uniform(4, 12), hours=self.rng.uniform(0, 6))
            if t >= self.end:
                return
            doc = self.rng.choice([self.library.pages["precios"], *self.on(problem, "decide")])
            seconds = 40 if doc.kind == "page" else self.pace(doc, self.rng.uniform(170, 300))
            self.visit(p, t, [(doc, seconds)], device=device)

    def plan_evaluator(self, p: Persona, t: datetime) -> None:
        self._evaluate(p, t)

    def plan_quiet(self, p: Persona, t: datetime) -> None:
        self._evaluate(p, t, quiet=True)

    def plan_devices(self, p: Persona, t: datetime) -> None:
        self._evaluate(p, t, device_for=lambda i: i % 2)

    def plan_ready(self, p: Persona, t: datetime) -> None:
        problem = self.rng.choice(self.problems)
        self.at(t, lambda: self.identify(p))
        t += timedelta(hours=self.rng.uniform(1, 30))
        decide = self.on(problem, "decide")
        case = self.rng.choice(decide)
        p.buying_from = p.decisive_at = t
        end = self.visit(p, t, [(case, self.pace(case, 220)), (self.library.pages["precios"], 60)])
        if self.rng.random() < 0.85:
            self.at(end + timedelta(minutes=3), lambda: self.raise_hand(p))
        else:  # no form: a second piece on choosing, the next day
            other = self.rng.choice([d for d in decide if d is not case] or decide)
            end = self.visit(p, end + timedelta(days=1), [(other, self.pace(other, 240))])
        self.keep_choosing(p, end, problem)

    def plan_competitor(self, p: Persona, t: datetime) -> None:
        self._evaluate(p, t)
        p.buying_from = p.decisive_at = None  # reads like a buyer; is not one

    def plan_bot(self, p: Persona, t: datetime) -> None:
        self.visit(p, t, [(d, 1.0) for d in self.articles])


def _choice(value: str, options: list[str] | None) -> str:
    """The profile's answer, or the form's option that says the same ("50-249" → "50-249 empleados")."""
    if not options or value in options:
        return value
    head = re.match(r"\d+", value)
    same = [o for o in options if head and re.match(rf"{head.group()}\b", o.replace(".", ""))]
    return (same or [o for o in options if value.lower() in o.lower()] or options[:1])[0]


@dataclass
class Report:
    checkpoints: int
    precision: float | None
    recall: float | None
    detected: int
    buyers: int
    within_a_day: float | None
    median_delay_hours: float | None
    handoffs: int
    handoff_precision: float | None
    false_by_kind: dict[str, int]
    missed_by_kind: dict[str, int]
    queue_by_kind: dict[str, int]
    bot_contacts: int

    def lines(self) -> list[str]:
        def pct(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f}"
        return [
            f"checkpoints: {self.checkpoints}",
            f"purchase-mode precision: {pct(self.precision)}   recall: {pct(self.recall)}",
            f"buyers detected: {self.detected}/{self.buyers}; within a day of the first decisive evidence: "
            f"{pct(self.within_a_day)}; median delay {self.median_delay_hours if self.median_delay_hours is not None else '—'} h",
            f"handoffs: {self.handoffs}, precision {pct(self.handoff_precision)}; in the queue by kind: "
            f"{self.queue_by_kind}",
            f"false purchase checkpoints by kind: {self.false_by_kind}",
            f"missed buying checkpoints by kind: {self.missed_by_kind}",
            f"bots that became contacts: {self.bot_contacts}",
        ]


def report(world: World) -> Report:
    cps = world.checkpoints
    tp = sum(1 for c in cps if c.truth and c.purchase)
    fp = sum(1 for c in cps if not c.truth and c.purchase)
    fn = sum(1 for c in cps if c.truth and not c.purchase)
    delays = []
    buyers = [p for p in world.personas if p.kind in BUYERS and p.decisive_at is not None
              and p.decisive_at < world.end - timedelta(days=1)]
    with world.app.app_context(), db.session_scope(world.app) as session:
        handed = {cid for (cid,) in session.execute(select(Handoff.contact_id))}
        for p in buyers:
            if p.contact_id is None:
                continue
            first = session.scalar(select(Event.occurred_at).where(
                Event.contact_id == p.contact_id, Event.type == "mode_change",
                Event.occurred_at >= p.decisive_at - timedelta(hours=1)).order_by(Event.occurred_at).limit(1))
            if first is not None:
                delays.append((first - p.decisive_at).total_seconds() / 3600)
        bot_emails = [p.email for p in world.personas if p.kind == "bot"]
        bots = len(session.scalars(select(Contact.id).where(Contact.email.in_(bot_emails))).all())
    by_contact = {p.contact_id: p for p in world.personas if p.contact_id is not None}
    queue: dict[str, int] = {}
    good = 0
    for cid in handed:
        p = by_contact.get(cid)
        kind = p.kind if p else "?"
        queue[kind] = queue.get(kind, 0) + 1
        good += kind in BUYERS
    false_by: dict[str, int] = {}
    missed_by: dict[str, int] = {}
    for c in cps:
        if c.purchase and not c.truth:
            false_by[c.kind] = false_by.get(c.kind, 0) + 1
        if c.truth and not c.purchase:
            missed_by[c.kind] = missed_by.get(c.kind, 0) + 1
    return Report(
        len(cps), tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None, len(delays),
        len(buyers), sum(1 for d in delays if d <= 24) / len(buyers) if buyers else None,
        round(statistics.median(delays), 1) if delays else None, len(handed),
        good / len(handed) if handed else None, false_by, missed_by, queue, bots)


def simulate(app: Flask, counts: dict[str, int], days: int = 60, seed: int = 7,
             start: datetime = datetime(2026, 9, 1, tzinfo=UTC)) -> World:
    """Plan ``counts`` personas of each kind over ``days`` and run them; the world holds the checkpoints."""
    world = World(app, start, days, seed)
    for kind in KINDS:
        for _ in range(counts.get(kind, 0)):
            world.add(kind)
    world.run()
    return world
