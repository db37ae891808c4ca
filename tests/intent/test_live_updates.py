"""Every event that counts updates the stored score where it is written: no stale score next to its trail.

A guide download (fast path and view, in the request or in the download log's
batch), a guide form, an email click and a sales outcome each leave the
contact's stored intent state current in the transaction that stores the event.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.db import utcnow
from cabos.intent.models import IntentState
from cabos.nurture.links import click_token
from cabos.nurture.models import Enrolment, OutboxMessage
from cabos.site.download_links import make_token
from cabos.tracking.models import Event
from tests.conftest import SECRET
from tests.guides.conftest import FILES, submit, token_from

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
DOWNLOAD = "/guides/count-stock/download"


def stored(session: Session, contact_id: int) -> IntentState | None:
    session.expire_all()
    return session.scalar(select(IntentState).where(IntentState.contact_id == contact_id))


def downloads(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event).where(Event.type == "download")) or 0


class TestDownloads:
    @pytest.fixture
    def content_dir(self, make_content) -> Path:  # type: ignore[no-untyped-def]
        return make_content(FILES)

    def _lead(self, client, session: Session) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        token = token_from(submit(client).headers["Location"])
        contact_id = session.scalar(select(Contact.id))
        assert contact_id is not None
        return contact_id, token

    def test_the_guide_form_scores_the_contact_in_its_request(self, client, session: Session) -> None:  # type: ignore[no-untyped-def]
        contact_id, _ = self._lead(client, session)
        state = stored(session, contact_id)
        assert state is not None and state.rules_version  # scored, not merely created

    def test_a_fast_download_in_the_request_changes_the_stored_score(self, client, session: Session) -> None:  # type: ignore[no-untyped-def]
        contact_id, token = self._lead(client, session)
        before = stored(session, contact_id)
        assert before is not None and before.score == 0.0
        # HEAD renders and caches the PDF through the view without recording a download.
        assert client.head(DOWNLOAD, query_string={"token": token}, buffered=True).status_code == 200
        assert downloads(session) == 0
        response = client.get(DOWNLOAD, query_string={"token": token}, buffered=True)
        assert response.status_code == 200
        after = stored(session, contact_id)
        assert downloads(session) == 1
        assert after is not None and after.score > 0
        assert after.interest == {"bad-stock": pytest.approx(after.score)}  # one score, one interest: they agree



class TestBatchedDownloads(TestDownloads):
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"DOWNLOAD_EVENTS_FLUSH_MS": 3_600_000}  # the batch is written when the test says so

    test_the_guide_form_scores_the_contact_in_its_request = None  # type: ignore[assignment]
    test_a_fast_download_in_the_request_changes_the_stored_score = None  # type: ignore[assignment]

    def test_a_batched_download_is_scored_in_the_batch_that_writes_it(self, app: Flask, client,  # type: ignore[no-untyped-def]
                                                                     session: Session) -> None:
        contact_id, token = self._lead(client, session)
        assert client.get(DOWNLOAD, query_string={"token": token}, buffered=True).status_code == 200
        assert downloads(session) == 0 and stored(session, contact_id).score == 0.0  # type: ignore[union-attr]
        assert app.extensions["cabos.download_log"].flush() == 1
        after = stored(session, contact_id)
        assert downloads(session) == 1 and after is not None and after.score > 0

    def test_a_failing_rescore_loses_no_download(self, app: Flask, client, session: Session) -> None:  # type: ignore[no-untyped-def]
        contact_id, token = self._lead(client, session)
        log = app.extensions["cabos.download_log"]

        def broken(*_: Any) -> None:
            raise RuntimeError("scoring is down")

        log.after_write = broken
        assert client.get(DOWNLOAD, query_string={"token": token}, buffered=True).status_code == 200
        assert log.flush() == 1
        assert downloads(session) == 1
        assert stored(session, contact_id).score == 0.0  # type: ignore[union-attr]  # catches up later


def _outbox_row(session: Session, contact: Contact) -> OutboxMessage:
    enrolment = Enrolment(contact_id=contact.id, sequence="seq", status="active", next_step="s1",
                          next_due_at=utcnow())
    session.add(enrolment)
    session.flush()
    row = OutboxMessage(enrolment_id=enrolment.id, contact_id=contact.id, sequence="seq", step="s1",
                        email="none", due_at=utcnow())
    session.add(row)
    session.flush()
    return row


def test_an_email_click_on_an_article_changes_the_stored_score_in_its_request(app: Flask, client,  # type: ignore[no-untyped-def]
                                                                             session: Session) -> None:
    contact = Contact(email="ana@almacenes-ruiz.es", name="Ana", custom={})
    session.add(contact)
    session.flush()
    row = _outbox_row(session, contact)
    session.commit()
    with app.test_request_context():
        from flask import url_for
        url = "http://localhost" + url_for("public.article", slug="inventario-anual-vs-recuento-ciclico")
    response = client.get(f"/e/c/{click_token(SECRET, row.id, url)}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    state = stored(session, contact.id)
    assert state is not None and state.score > 0
    assert "inventario-descuadrado" in state.interest


def test_a_sales_outcome_rescores_the_contact_where_it_is_recorded(app: Flask, session: Session) -> None:
    from cabos.sales.handoffs import create_handoff
    from cabos.sales.outcomes import OutcomeInput, record_outcome

    contact = Contact(email="ana@almacenes-ruiz.es", name="Ana", custom={})
    session.add(contact)
    session.flush()
    with app.app_context():
        handoff = create_handoff(session, contact, {"source": "test"}, utcnow() - timedelta(hours=1))
        assert stored(session, contact.id) is None
        record_outcome(session, handoff, OutcomeInput("accepted"), None, utcnow())
    state = stored(session, contact.id)
    assert state is not None and state.rules_version
