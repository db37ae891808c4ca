"""Counting a segment of 10,000 contacts: on stored values only, and on mode and interest decayed at count time.

    .venv/bin/python bench/segment_count.py [--contacts 10000] [--postgres URL]   (default: a SQLite file)

Every contact has an intent state made by the real scorer (three full reads, purchase mode) at a time
spread over the last 60 days, so about half of them have decayed back to information mode by now.
Three segments are counted with ``broadcasts.members`` (what the Segments page, the dry run and the
queue use): ``consent: true`` (no intent read), ``mode: information`` and ``problems: [stock]``
(mode and interest decayed to now from the stored columns); for a sample, the mode is checked
against the contact page's ``current_state`` (the evidence rebuilt and decayed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cabos import db as cabos_db  # noqa: E402
from cabos import migrate  # noqa: E402
from cabos.contacts.models import Contact  # noqa: E402
from cabos.intent.models import IntentState  # noqa: E402
from cabos.intent.rules import rules_of  # noqa: E402
from cabos.intent.store import current_state, update_contact  # noqa: E402
from cabos.nurture.audiences import audiences_of  # noqa: E402
from cabos.nurture.broadcasts import members  # noqa: E402
from cabos.site import create_app  # noqa: E402
from cabos.tracking.models import Event  # noqa: E402

ARTICLE = "---\ntitle: {t}\nsummary: About {t}.\nproblems: [stock]\nstage: {s}\ndate: 2026-01-01\n---\n## A\n\nText.\n"


def content() -> Path:
    root = Path(tempfile.mkdtemp()) / "content"
    files = {
        "site.yml": "name: Bench\nlanguage: en\nbase_url: https://www.example.com\n",
        "problems.yml": "- slug: stock\n  name: Stock\n",
        "segments/everyone.yml": "name: Everyone\nconsent: true\n",
        "segments/learning.yml": "name: Learning\nconsent: true\nmode: information\n",
        "segments/stock.yml": "name: Stock\nconsent: true\nproblems: [stock]\nmin_interest: 1\n",
        **{f"articles/{slug}.md": ARTICLE.format(t=slug, s=stage)
           for slug, stage in (("case", "decide"), ("choose", "decide"), ("compare", "compare"))},
    }
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--postgres", default="", help="A PostgreSQL database (emptied first); default SQLite.")
    args = parser.parse_args()
    url = args.postgres or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CONTENT_DIR": str(content())})
    database = cabos_db.database(app)
    migrate.upgrade(database.engine)
    now = cabos_db.utcnow()
    with app.app_context(), database.session() as session:
        for table in ("intent_states", "events", "contacts"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(insert(Contact), [
            {"email": f"p{i}@example.com", "name": f"P {i}", "company": "", "role": "", "company_size": "",
             "country": "", "custom": {}, "consent_text": "", "first_touch": {}, "latest_touch": {},
             "consent_at": now, "created_at": now, "updated_at": now} for i in range(args.contacts)])
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        # The scorer makes one state per day of the last 60; every contact gets a copy of one of them.
        states = {}
        for day in range(60):
            at = now - timedelta(days=day)
            for slug, stage in (("case", "decide"), ("choose", "decide"), ("compare", "compare")):
                session.add(Event(type="reading", occurred_at=at, contact_id=ids[day], content_kind="article",
                                  content_slug=slug, stage=stage, problems=["stock"], engaged_ms=200_000,
                                  scroll_pct=100, read_to_end=True, data={}))
            session.flush()
            update_contact(session, ids[day], at)
            states[day] = session.scalar(select(IntentState).where(IntentState.contact_id == ids[day]))
        columns = [c.key for c in IntentState.__table__.columns if c.key not in ("id", "contact_id", "visitor_id")]
        session.execute(insert(IntentState), [
            {**{c: getattr(states[i % 60], c) for c in columns}, "contact_id": contact_id}
            for i, contact_id in enumerate(ids) if i >= 60])
        session.commit()
        library = app.extensions["cabos.content"].current()
        rules = rules_of(library)
        for slug, segment in audiences_of(library).segments.items():
            started = time.perf_counter()
            found = {m.id for m in members(session, library, segment, now)}
            print(f"{slug:10} {len(found):6} members of {args.contacts}: {time.perf_counter() - started:.2f} s")
            if slug == "learning":  # the same verdict as the contact page's state (decay on read), for a sample
                for contact_id in ids[::max(1, len(ids) // 500)]:
                    state = current_state(session, contact_id, now, rules)
                    assert state is not None and (state.mode == "information") == (contact_id in found), contact_id
                print("learning: the contact page's current_state agrees for a sample of 500")


if __name__ == "__main__":
    main()
