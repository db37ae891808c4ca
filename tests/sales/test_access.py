"""Salesperson A cannot see or act on salesperson B's handoffs by changing an id, in pages or the API."""

from __future__ import annotations

import re

from flask import Flask

from cabos.db import session_scope
from cabos.sales.models import Handoff
from cabos.staff.auth import new_token
from cabos.staff.models import StaffUser
from tests.conftest import staff_login

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def api_client(app: Flask, user: StaffUser):  # type: ignore[no-untyped-def]
    with app.app_context(), session_scope(app) as s:
        token = new_token(s, s.get(StaffUser, user.id))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_another_salesperson_sees_nothing_in_pages(app: Flask, db, journey, make_staff) -> None:
    other = make_staff("sales")
    client = staff_login(app.test_client(), other)
    contact_id, handoff_id = journey.contact.id, journey.handoff.id
    assert client.get(f"/staff/contacts/{contact_id}").status_code == 404
    assert client.get(f"/staff/contacts/{contact_id}?before=1_1").status_code == 404
    assert f"/staff/contacts/{contact_id}" not in client.get("/staff/queue?status=all").get_data(as_text=True)
    assert "Marta" not in client.get("/staff/contacts?q=marta").get_data(as_text=True)
    assert "marta@" not in client.get("/staff/queue.csv?status=all").get_data(as_text=True)
    # Asking for B's queue by id is ignored: a salesperson cannot pick the assignee.
    assert f"/staff/contacts/{contact_id}" not in client.get(
        f"/staff/queue?status=all&assignee={journey.seller.id}").get_data(as_text=True)
    home = client.get("/staff/").get_data(as_text=True)
    token = TOKEN.search(home).group(1)
    response = client.post(f"/staff/handoffs/{handoff_id}/outcome",
                           data={"csrf_token": token, "kind": "accepted", "x-kind": "accepted"})
    assert response.status_code == 404
    with db.sessions() as s:
        assert s.get(Handoff, handoff_id).status == "new"


def test_another_salesperson_sees_nothing_in_the_api(app: Flask, db, journey, make_staff) -> None:
    client = api_client(app, make_staff("sales"))
    contact_id, handoff_id = journey.contact.id, journey.handoff.id
    for path in (f"/api/contacts/{contact_id}", f"/api/contacts/{contact_id}/trail", f"/api/handoffs/{handoff_id}"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/contacts").get_json()["contacts"] == []
    assert client.get("/api/handoffs?status=all").get_json()["handoffs"] == []
    assert client.post(f"/api/handoffs/{handoff_id}/outcome", json={"kind": "accepted"}).status_code == 404
    with db.sessions() as s:
        assert s.get(Handoff, handoff_id).status == "new"


def test_the_assignee_sees_and_acts_through_the_api(app: Flask, db, journey) -> None:
    client = api_client(app, journey.seller)
    data = client.get(f"/api/contacts/{journey.contact.id}").get_json()
    assert data["contact"]["email"] == "marta@almacenes-ruiz.es"
    assert data["brief"]["problems"][0]["slug"] == "inventario-descuadrado"
    assert data["handoffs"][0]["id"] == journey.handoff.id
    trail = client.get(f"/api/contacts/{journey.contact.id}/trail?limit=3").get_json()
    assert len(trail["events"]) == 3 and trail["next"]
    more = client.get(f"/api/contacts/{journey.contact.id}/trail?limit=3&before={trail['next']}").get_json()
    assert {e["id"] for e in more["events"]}.isdisjoint({e["id"] for e in trail["events"]})
    queue = client.get("/api/handoffs").get_json()["handoffs"]
    assert [h["id"] for h in queue] == [journey.handoff.id]
    response = client.post(f"/api/handoffs/{journey.handoff.id}/outcome",
                           json={"kind": "won", "revenue_cents": 990000, "currency": "EUR", "won_on": "2026-11-26"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "won"
    bad = client.post(f"/api/handoffs/{journey.handoff.id}/outcome", json={"kind": "accepted"})
    assert bad.status_code == 400 and bad.get_json()["detail"]


def test_a_marketer_reads_but_does_not_act(app: Flask, db, journey, make_staff) -> None:
    marketer = make_staff("marketer")
    client = staff_login(app.test_client(), marketer)
    body = client.get(f"/staff/contacts/{journey.contact.id}").get_data(as_text=True)
    assert "Marta Ruiz" in body and "/outcome" not in body
    assert api_client(app, marketer).post(f"/api/handoffs/{journey.handoff.id}/outcome",
                                          json={"kind": "accepted"}).status_code == 403


def test_a_deactivated_users_token_stops_working(app: Flask, db, journey) -> None:
    client = api_client(app, journey.seller)
    assert client.get("/api/handoffs").status_code == 200
    from cabos.staff import accounts
    with db.sessions() as s:
        accounts.deactivate(s, s.get(StaffUser, journey.seller.id))
        s.commit()
    assert client.get("/api/handoffs").status_code == 401


def test_bad_api_parameters_get_400_not_500(app: Flask, journey) -> None:
    client = api_client(app, journey.seller)
    for path in ("/api/handoffs?status=<script>", "/api/handoffs?sort=id;drop", "/api/contacts?page=-1",
                 "/api/contacts?page=abc", f"/api/contacts/{journey.contact.id}/trail?before=zzz",
                 f"/api/contacts/{journey.contact.id}/trail?limit=100000"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.is_json
    assert client.post(f"/api/handoffs/{journey.handoff.id}/outcome", data="not json",
                       content_type="application/json").status_code == 400
    for deep in ("[" * 100_000 + "]" * 100_000, '{"kind":' * 50_000 + "1" + "}" * 50_000):
        assert client.post(f"/api/handoffs/{journey.handoff.id}/outcome", data=deep,
                           content_type="application/json").status_code == 400
    assert client.post(f"/api/handoffs/{journey.handoff.id}/outcome",
                       json={"kind": "won", "revenue_cents": "lots"}).status_code == 400
    assert client.post(f"/api/handoffs/{journey.handoff.id}/outcome",
                       json={"kind": "won", "revenue_cents": 5, "won_on": "yesterday"}).status_code == 400


def test_openapi_document_describes_every_api_route(app: Flask) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {path for path in doc["paths"]}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "api.openapi":
            path = rule.rule[len("/api"):].replace("<int:", "{").replace(">", "}")
            assert path in documented, path
