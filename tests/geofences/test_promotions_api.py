"""Promotions over the API (CRUD, pause/resume, tenancy, validation, reports, OpenAPI) and triggers end to end
against the real database: idempotency and every suppression reason counted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from geofences.promotions import COLUMNS, FROM, changed_fences, counters, handle_transition, on_receipt, on_stop
from geofences.rules import Outcome
from geofences.transitions import Detect, Transition
from lbs.consent.decision import Precision, Purpose
from lbs.consent.registry import Source, Subject, grant_event, record
from lbs.pseudonym import pseudonym
from lbs.settings import Settings
from tests.geofences.conftest import NOW

MSISDN = "+32470000001"
GRAND_PLACE = [4.3525, 50.8467]


def promotion(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Gaufre -20%",
        "application": "PROMOCITY",
        "brand": "PromoCity",
        "shop": "Maison Dandoy",
        "fence": {"center": GRAND_PLACE, "radius_m": 150},
        "template": "{name} chez {shop}, a {distance}. Code {coupon}",
        "coupon": "GP20",
        "valid_from": "2026-11-01T00:00:00+01:00",
        "valid_until": "2026-12-31T00:00:00+01:00",
    }
    body.update(changes)
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    resp = await client.post("/v1/promotions", json=promotion(**changes), headers=auth(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def test_crud_pause_resume_and_tenancy(client: TestClient, keys: dict[str, str]) -> None:
    created = await create(client, keys["promocity"])
    assert created["brand"] == "PROMOCITY" and created["status"] == "active"
    assert created["fence"] == {"type": "Circle", "center": GRAND_PLACE, "radius_m": 150.0}
    assert created["cap"] == {"count": 1, "period": "promotion"} and created["source"] == "3311"
    url = f"/v1/promotions/{created['id']}"
    resp = await client.get(url, headers=auth(keys["promocity"]))
    assert (await resp.json())["name"] == "Gaufre -20%"
    for method in ("get", "patch", "delete"):  # another provider's promotion does not exist for them
        resp = await client.request(method, url, json={}, headers=auth(keys["other"]))
        assert resp.status == 404
    resp = await client.post(url + "/pause", headers=auth(keys["other"]))
    assert resp.status == 404
    resp = await client.get(url + "/report", headers=auth(keys["other"]))
    assert resp.status == 404
    resp = await client.get("/v1/promotions", headers=auth(keys["operator"]))
    assert resp.status == 403

    square = {"type": "Polygon", "coordinates": [[[4.35, 50.84], [4.36, 50.84], [4.36, 50.85], [4.35, 50.84]]]}
    resp = await client.patch(
        url, json={"fence": square, "trigger": "dwell", "dwell_s": 300}, headers=auth(keys["promocity"])
    )
    changed = await resp.json()
    assert resp.status == 200, changed
    assert changed["trigger"] == "dwell" and changed["fence"]["type"] == "Polygon"
    assert changed["updated_at"] > created["updated_at"]
    resp = await client.post(url + "/pause", headers=auth(keys["promocity"]))
    assert (await resp.json())["status"] == "paused"
    resp = await client.post(url + "/resume", headers=auth(keys["promocity"]))
    assert (await resp.json())["status"] == "active"
    resp = await client.get("/v1/promotions", headers=auth(keys["promocity"]))
    assert [p["id"] for p in (await resp.json())["promotions"]] == [created["id"]]
    resp = await client.delete(url, headers=auth(keys["promocity"]))
    assert resp.status == 204
    resp = await client.get(url, headers=auth(keys["promocity"]))
    assert resp.status == 404
    resp = await client.get(url + "/report", headers=auth(keys["promocity"]))  # the report outlives it
    assert resp.status == 200
    for bad in ("abc", "99999999999999999999", "\u00b2", "\u0661\u0662"):  # not an id: 400, never a 500
        resp = await client.get(f"/v1/promotions/{bad}", headers=auth(keys["promocity"]))
        assert resp.status == 400 and (await resp.json())["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("changes", "code", "needle"),
    [
        (
            {
                "fence": {
                    "type": "Polygon",
                    "coordinates": [[[4.35, 50.84], [4.36, 50.85], [4.36, 50.84], [4.35, 50.85], [4.35, 50.84]]],
                }
            },
            "INVALID_FENCE",
            "Self-intersection",
        ),
        ({"fence": {"center": [179.99, 10], "radius_m": 5000}}, "INVALID_FENCE", "antimeridian"),
        ({"fence": {"center": GRAND_PLACE, "radius_m": 1e6}}, "INVALID_FENCE", "radius_m"),
        ({"template": "Hi {msisdn}"}, "INVALID_ARGUMENT", "placeholders"),
        ({"template": "Hi {name:d}"}, "INVALID_ARGUMENT", "not a placeholder"),
        ({"template": "Hi {name:>999999999}"}, "INVALID_ARGUMENT", "not a placeholder"),
        ({"template": "Hi {name:{x}}"}, "INVALID_ARGUMENT", "not a placeholder"),
        ({"template": "Hi {shop!r}"}, "INVALID_ARGUMENT", "not a placeholder"),
        ({"trigger": "dwell"}, "INVALID_ARGUMENT", "dwell_s"),
        ({"valid_until": "2026-10-01T00:00:00+01:00"}, "INVALID_ARGUMENT", "valid_until"),
        ({"valid_from": "2026-11-01T00:00:00"}, "INVALID_ARGUMENT", "timezone"),
        ({"timezone": "Mars/Olympus"}, "INVALID_ARGUMENT", "time zone"),
        ({"hours_from": "09:00:00+02:00"}, "INVALID_ARGUMENT", "hours_from"),  # aware vs naive: was a 500
        ({"hours_until": "20:00Z"}, "INVALID_ARGUMENT", "without an offset"),
        ({"name": "Nul\u0000"}, "INVALID_ARGUMENT", "NUL"),
        ({"budget_minor": 2**63}, "INVALID_ARGUMENT", "out of range"),
        ({"application": "OTHERAPP"}, "INVALID_ARGUMENT", "no application"),
        ({"source": "not a sender!"}, "INVALID_ARGUMENT", "sender"),
        ({"days": "089"}, "INVALID_ARGUMENT", "days"),
        ({"surprise": 1}, "INVALID_ARGUMENT", "surprise"),
    ],
)
async def test_validation_errors(
    client: TestClient, keys: dict[str, str], changes: dict[str, Any], code: str, needle: str
) -> None:
    resp = await client.post("/v1/promotions", json=promotion(**changes), headers=auth(keys["promocity"]))
    body = await resp.json()
    assert resp.status == 400, body
    assert body["code"] == code and needle.lower() in body["message"].lower(), body


async def test_patch_body_errors(client: TestClient, keys: dict[str, str]) -> None:
    created = await create(client, keys["promocity"])
    url = f"/v1/promotions/{created['id']}"
    resp = await client.patch(url, data="[1]", headers={**auth(keys["promocity"]), "Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.patch(url, data="x", headers=auth(keys["promocity"]))
    assert resp.status == 415
    resp = await client.patch(
        url, json={"hours_from": "21:00", "hours_until": "20:00"}, headers=auth(keys["promocity"])
    )
    assert resp.status == 400


@pytest.mark.parametrize("template", ["{name:d}", "{name:>999999999}", "{name:{x}}", "{coupon!s}"])
async def test_patch_refuses_poison_templates(client: TestClient, keys: dict[str, str], template: str) -> None:
    created = await create(client, keys["promocity"])
    url = f"/v1/promotions/{created['id']}"
    resp = await client.patch(url, json={"template": template}, headers=auth(keys["promocity"]))
    body = await resp.json()
    assert resp.status == 400 and body["code"] == "INVALID_ARGUMENT" and set(body) == {"status", "code", "message"}
    assert (await (await client.get(url, headers=auth(keys["promocity"]))).json())["template"] == created["template"]


async def test_openapi_documents_every_promotion_route(client: TestClient) -> None:
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    served = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/v1/promotions") and r.method != "HEAD"
    }
    documented = {(p, m) for p, item in doc["paths"].items() if p.startswith("/v1/promotions") for m in item}
    assert documented == served and len(served) == 8


async def test_workers_see_changes(client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any]) -> None:
    a = await create(client, keys["promocity"])
    b = await create(client, keys["promocity"], trigger="dwell", dwell_s=120)
    sync = await changed_fences(db, None)
    assert [f.id for f in sync.upsert] == [a["id"], b["id"]] and sync.upsert[1].dwell_s == 120.0
    await client.post(f"/v1/promotions/{a['id']}/pause", headers=auth(keys["promocity"]))
    later = await changed_fences(db, sync.seen_until)
    assert later.remove == [a["id"]] and later.upsert == []


async def grant(db: asyncpg.Connection[Any], *purposes: Purpose) -> None:
    await grant_to(db, MSISDN, *purposes)


async def grant_to(db: asyncpg.Connection[Any], msisdn: str, *purposes: Purpose) -> None:
    await db.execute("INSERT INTO subscribers (msisdn, language) VALUES ($1, 'fr') ON CONFLICT DO NOTHING", msisdn)
    source = Source("api", "test", {})
    for purpose in purposes:
        event = grant_event("PROMOCITY", purpose, Precision.EXACT, NOW - timedelta(days=1), timedelta(days=365))
        await record(db, Subject(msisdn, pseudonym(Settings().pseudonym_key, msisdn)), event, source)


def enter(at: datetime, detect: Detect = Detect.ENTER) -> Transition:
    return Transition(MSISDN, 0, detect, at.timestamp(), GRAND_PLACE[0] + 0.0005, GRAND_PLACE[1], at.timestamp())


async def fire(
    db: asyncpg.Connection[Any], settings: Settings, promo_id: int, at: datetime, detect: Detect = Detect.ENTER
) -> Outcome | None:
    row = await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE p.id = $1", promo_id)
    assert row is not None
    return await handle_transition(db, settings, row, enter(at, detect), at)


async def test_trigger_fires_once_and_sends_the_mt(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any], settings: Settings
) -> None:
    await grant(db, Purpose.GEOFENCING, Purpose.MARKETING)
    promo = await create(client, keys["promocity"])
    assert await fire(db, settings, promo["id"], NOW) is Outcome.FIRED
    assert await fire(db, settings, promo["id"], NOW) is None  # the same transition replayed: nothing
    mt = await db.fetchrow("SELECT * FROM mt_messages")
    assert mt is not None and mt["message_class"] == "marketing" and mt["brand"] == "PROMOCITY"
    assert mt["body"].startswith("Gaufre -20% chez Maison Dandoy, a 35 m. Code GP20")
    assert mt["body"].endswith("STOP au 3311")  # the subscriber's language (fr)
    await on_receipt(db, mt["id"], "DELIVRD")
    await on_stop(db, pseudonym(settings.pseudonym_key, MSISDN), "PROMOCITY")
    resp = await client.get(f"/v1/promotions/{promo['id']}/report", headers=auth(keys["promocity"]))
    report = await resp.json()
    assert report["fired"] == 1 and report["transitions"] == 1 and report["delivered"] == 1 and report["stops"] == 1
    assert report["suppressed"] == {}


async def test_each_suppression_is_counted(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any], settings: Settings
) -> None:
    promo = await create(client, keys["promocity"], cap={"count": 1, "period": "day"})
    pid = promo["id"]
    t = NOW
    await db.execute("INSERT INTO subscribers (msisdn, language) VALUES ($1, 'fr')", MSISDN)
    assert await fire(db, settings, pid, t) is Outcome.NO_GEOFENCING_CONSENT
    await grant(db, Purpose.GEOFENCING)
    assert await fire(db, settings, pid, t + timedelta(seconds=1)) is Outcome.NO_MARKETING_CONSENT
    await grant(db, Purpose.MARKETING)
    assert await fire(db, settings, pid, t + timedelta(seconds=2), Detect.EXIT) is Outcome.OTHER_TRANSITION
    assert await fire(db, settings, pid, t.replace(hour=5)) is Outcome.QUIET_HOURS  # 06:00 in Brussels
    assert await fire(db, settings, pid, t + timedelta(seconds=3)) is Outcome.FIRED
    assert await fire(db, settings, pid, t + timedelta(seconds=4)) is Outcome.SUBSCRIBER_CAP
    # the next day the cap allows again; another promotion of the brand the same day meets the daily brand cap
    other = await create(client, keys["promocity"], name="Autre")
    assert await fire(db, settings, other["id"], t + timedelta(seconds=5)) is Outcome.DAILY_BRAND_CAP
    await db.execute(
        "INSERT INTO opt_outs (subject, brand) VALUES ($1, 'PROMOCITY')", pseudonym(settings.pseudonym_key, MSISDN)
    )
    assert await fire(db, settings, pid, t + timedelta(days=1)) is Outcome.OPTED_OUT
    await client.post(f"/v1/promotions/{pid}/pause", headers=auth(keys["promocity"]))
    assert await fire(db, settings, pid, t + timedelta(days=1, seconds=1)) is Outcome.PAUSED
    values = await counters(db, pid)
    assert values == {
        "transitions": 8,
        "fired": 1,
        "suppressed:no_geofencing_consent": 1,
        "suppressed:no_marketing_consent": 1,
        "suppressed:other_transition": 1,
        "suppressed:quiet_hours": 1,
        "suppressed:subscriber_cap": 1,
        "suppressed:opted_out": 1,
        "suppressed:paused": 1,
    }


async def test_budget(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any], settings: Settings
) -> None:
    await grant(db, Purpose.GEOFENCING, Purpose.MARKETING)
    promo = await create(client, keys["promocity"], budget_messages=0)
    assert await fire(db, settings, promo["id"], NOW) is Outcome.BUDGET
