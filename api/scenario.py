"""The live scenario of ``make run`` / ``lbs demo --once``: each step drives the real emulators and says, in plain
words, what the platform did. A step raises when what it shows did not happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

import aiohttp
import asyncpg

from lbs.apikeys import create_key
from lbs.clock import Clock
from lbs.settings import Settings

Out = Callable[[str], None]

DEMO_HANDSET = "+32470000001"
CONSENT_HANDSET = "+32470000002"
# How long one scenario step may wait for its SMS before the demo calls it failed.
STEP_TIMEOUT_S = 15.0


class Scenario:
    """Drives handsets through the SMSC emulator's control API and the platform's REST API."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, out: Out, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock  # the platform's clock: what the rules see as "now"
        self.session = session
        self.out = out
        self.smsc = f"http://{settings.smsc_host}:{settings.smsc_control_port}"
        self.api = f"http://{settings.api_host}:{settings.api_port}"
        self.les = f"http://{settings.les_host}:{settings.les_port}"

    async def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.smsc}/sim/handsets/{msisdn}/inbox") as resp:
            resp.raise_for_status()
            data = await resp.json()
        return list(data["messages"] if isinstance(data, dict) else data)

    async def wait_sms(self, msisdn: str, seen: int, expect: Callable[[str], bool], started: float) -> str:
        deadline = started + STEP_TIMEOUT_S
        while time.perf_counter() < deadline:
            for msg in (await self.inbox(msisdn))[seen:]:
                if expect(msg["text"]):
                    return str(msg["text"])
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{msisdn} received no matching SMS within {STEP_TIMEOUT_S:.0f} s")

    async def text(self, msisdn: str, body: str, expect: Callable[[str], bool]) -> tuple[str, float]:
        """Send ``body`` from ``msisdn`` to the short code; wait for a reply that satisfies ``expect``."""
        seen = len(await self.inbox(msisdn))
        started = time.perf_counter()
        payload = {"from": msisdn, "to": self.settings.short_code, "text": body}
        async with self.session.post(f"{self.smsc}/sim/mo", json=payload) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"SMSC refused the MO: {resp.status} {await resp.text()}")
        reply = await self.wait_sms(msisdn, seen, expect, started)
        return reply, (time.perf_counter() - started) * 1000

    async def say(self, msisdn: str, body: str, expect: Callable[[str], bool]) -> str:
        """Text and print the exchange."""
        reply, ms = await self.text(msisdn, body, expect)
        self.out(f"  handset {msisdn} texts {body!r} -> receives {reply!r}  ({ms:.0f} ms)")
        return reply

    async def true_position(self, msisdn: str) -> dict[str, Any]:
        async with self.session.get(f"{self.les}/sim/subscribers/{msisdn}/position") as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def provider_key(self, provider: str) -> str:
        """A fresh API key for ``provider`` (the demo acts as the provider's developer)."""
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return await create_key(conn, role="provider", name="live-scenario", provider=provider)
        finally:
            await conn.close()

    async def move(self, msisdn: str, lat: float, lon: float) -> None:
        """Put the handset somewhere (the LES emulator's control API) until :meth:`unpin`."""
        async with self.session.put(
            f"{self.les}/sim/subscribers/{msisdn}/position", json={"lat": lat, "lon": lon}
        ) as r:
            r.raise_for_status()

    async def unpin(self, msisdn: str) -> None:
        async with self.session.delete(f"{self.les}/sim/subscribers/{msisdn}/position") as resp:
            resp.raise_for_status()

    async def wait_report(self, token: str, promotion_id: int, done: Callable[[dict[str, Any]], bool]) -> Any:
        """The promotion's report once ``done`` holds for it (TimeoutError after the step timeout)."""
        deadline = time.perf_counter() + STEP_TIMEOUT_S
        while True:
            _, report = await self.api_call("GET", f"/v1/promotions/{promotion_id}/report", token)
            if done(report):
                return report
            if time.perf_counter() > deadline:
                raise TimeoutError(f"promotion report did not change as expected: {report}")
            await asyncio.sleep(0.2)

    async def api_call(self, method: str, path: str, token: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, self.api + path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()


Step = Callable[[Scenario], Awaitable[None]]


async def step_ping(s: Scenario) -> None:
    s.out("\n> Is the platform alive? An SMS goes in over SMPP, the reply comes out the same way")
    await s.say(DEMO_HANDSET, "PING", "PONG".__eq__)


async def step_where(s: Scenario) -> None:
    truth = await s.true_position(DEMO_HANDSET)
    s.out(
        "\n> Where am I? The platform asks the operator's location server (LES) over MLP, then answers by SMS"
        f"\n  (the LES emulator knows the handset is really at {truth['lat']:.5f}, {truth['lon']:.5f})"
    )
    reply = await s.say(DEMO_HANDSET, "WHERE", lambda t: t.startswith(("You are near", "Sorry")))
    if not reply.startswith("You are near"):
        raise RuntimeError("the platform could not locate the handset")


async def step_consent(s: Scenario) -> None:
    s.out(
        "\n> Consent: the CityGuide app may locate a subscriber only after the subscriber says yes, by SMS"
        "\n  CityGuide asks through the REST API (POST /v1/consents/requests) ..."
    )
    token = await s.provider_key("CityGuide")
    seen = len(await s.inbox(CONSENT_HANDSET))
    started = time.perf_counter()
    body = {"msisdn": CONSENT_HANDSET, "application": "CITYGUIDE", "purpose": "active_lookup"}
    status, answer = await s.api_call("POST", "/v1/consents/requests", token, json=body)
    if status != 202:
        raise RuntimeError(f"consent request refused: {answer}")
    request_sms = await s.wait_sms(CONSENT_HANDSET, seen, lambda t: "CITYGUIDE" in t, started)
    s.out(f"  handset {CONSENT_HANDSET} receives {request_sms!r}")
    await s.say(CONSENT_HANDSET, "YES CITYGUIDE", lambda t: "CITYGUIDE" in t)
    _, state = await s.api_call("GET", f"/v1/consents?msisdn=%2B{CONSENT_HANDSET[1:]}", token)
    grants = ", ".join(f"{g['application']} {g['purpose']} {g['state']}" for g in state["grants"])
    s.out(f"  the consent registry now says: {grants} (the LES asks it before every disclosure)")
    await s.say(CONSENT_HANDSET, "STOP CITYGUIDE", lambda t: "CITYGUIDE" in t)
    _, state = await s.api_call("GET", f"/v1/consents?msisdn=%2B{CONSENT_HANDSET[1:]}", token)
    if [g["state"] for g in state["grants"]] != ["revoked"]:
        raise RuntimeError(f"STOP CITYGUIDE did not revoke: {state}")
    s.out("  ... and after STOP CITYGUIDE the grant is revoked: no position goes to CityGuide any more")


async def step_triggered_reports(s: Scenario) -> None:
    from lbs.mlp.showcase import show_triggered_reports

    s.out("\n> Triggered reports: the LES pushes a subscriber's position every second (MLP TLRR/TLREP)")
    if not await show_triggered_reports(s.settings, s.session, DEMO_HANDSET, clock=s.clock, out=s.out):
        raise RuntimeError("the LES pushed fewer reports than asked")


async def step_opt_out(s: Scenario) -> None:
    s.out("\n> The STOP list: one word stops promotional SMS, another undoes it (in the subscriber's language)")
    await s.say(DEMO_HANDSET, "ARRET", lambda t: "SMS" in t)
    await s.say(DEMO_HANDSET, "START", lambda t: "STOP" in t)


async def fresh_geofence_handset(settings: Settings, now: datetime) -> str:
    """A subscriber PromoCity has not reached today (the demo may run many times a day on one database)."""
    from lbs.messaging.rules import local_day
    from lbs.pseudonym import pseudonym

    conn = await asyncpg.connect(settings.database_url)
    try:
        first = int(settings.les_first_msisdn.lstrip("+"))
        for n in range(settings.demo_subscribers - 1, 9, -1):  # from the last demo subscriber down
            msisdn = f"+{first + n}"
            taken = await conn.fetchval(
                "SELECT 1 FROM marketing_sends WHERE subject = $1 AND brand = 'PROMOCITY' AND day = $2",
                pseudonym(settings.pseudonym_key, msisdn),
                local_day(now),
            )
            if not taken:
                return msisdn
    finally:
        await conn.close()
    raise RuntimeError("every demo handset got its PromoCity SMS today")


AWAY = (50.8800, 4.4000)  # Schaerbeek, far from the Grand-Place


def suppressed(report: dict[str, Any]) -> int:
    """Entries the promotion's rules turned down (a transition it does not wait for is not a refusal)."""
    return sum(v for k, v in report["suppressed"].items() if k != "other_transition")


def marketing_hours_note(now: datetime) -> str:
    """Why an instant is outside the marketing window, in plain words (Brussels time)."""
    from zoneinfo import ZoneInfo

    from lbs.messaging.rules import is_working_day

    local = now.astimezone(ZoneInfo("Europe/Brussels"))
    when = f"{local:%A %d %B %H:%M} in Brussels"
    if local.weekday() >= 5:
        return f"it is {when}, a weekend day"
    if not is_working_day(local.date(), "BE"):
        return f"it is {when}, a Belgian public holiday"
    return f"it is {when}, outside 08:00-22:00"


async def step_geofence(s: Scenario) -> None:
    from api.demo_data import GRAND_PLACE, PROMOTION
    from lbs.messaging.rules import next_marketing_slot

    s.out(
        "\n> Geo Presence: PromoCity has a promotion on the Grand-Place (a 150 m circle). A subscriber who allowed"
        "\n  PromoCity to follow them (geofencing) and to send offers (marketing) gets one SMS on entering it,"
        "\n  within marketing hours (08:00-22:00 on Belgian working days)"
    )
    token = await s.provider_key("PromoCity")
    handset = await fresh_geofence_handset(s.settings, s.clock())
    for purpose in ("geofencing", "marketing"):
        body = {"msisdn": handset, "application": "PROMOCITY", "purpose": purpose}
        status, answer = await s.api_call("POST", "/v1/consents/requests", token, json=body)
        if status != 202:
            raise RuntimeError(f"consent request refused: {answer}")
    await s.say(handset, "YES PROMOCITY", lambda t: "PROMOCITY" in t and "until" in t)
    await s.move(handset, *AWAY)
    s.out("  the platform now asks the LES for this subscriber's position every second (MLP triggered reports)")
    await asyncio.sleep(2.5)
    _, promos = await s.api_call("GET", "/v1/promotions", token)
    promo = next(p for p in promos["promotions"] if p["name"] == PROMOTION)
    # The report counts every run of the demo on this database: each step waits for its own change.
    _, before = await s.api_call("GET", f"/v1/promotions/{promo['id']}/report", token)
    seen = len(await s.inbox(handset))
    started = time.perf_counter()
    now = s.clock()
    await s.move(handset, GRAND_PLACE[1], GRAND_PLACE[0])
    s.out("  the subscriber walks onto the Grand-Place (moved through the LES emulator's control API) ...")
    if next_marketing_slot(now) == now:
        try:
            sms = await s.wait_sms(handset, seen, lambda t: "Grand-Place" in t, started)
        except TimeoutError as exc:
            _, report = await s.api_call("GET", f"/v1/promotions/{promo['id']}/report", token)
            raise TimeoutError(f"{exc}; the promotion's report: {report}") from None
        s.out(f"  handset {handset} receives {sms!r}  ({(time.perf_counter() - started) * 1000:.0f} ms)")
    else:
        quiet = before["suppressed"].get("quiet_hours", 0)
        report = await s.wait_report(token, promo["id"], lambda r: r["suppressed"].get("quiet_hours", 0) > quiet)
        s.out(
            f"  ... {marketing_hours_note(now)}: the entry is counted and the offer is suppressed (quiet hours), not"
            f" sent later, since a shop offer hours after the shopper has left helps nobody"
            f" (quiet_hours {report['suppressed']['quiet_hours']}; `lbs demo --at 2026-12-01T10:00+01:00` shows the"
            f" in-hours path)"
        )
    _, middle = await s.api_call("GET", f"/v1/promotions/{promo['id']}/report", token)
    await s.move(handset, *AWAY)
    await asyncio.sleep(3)
    await s.move(handset, GRAND_PLACE[1], GRAND_PLACE[0])
    s.out("  it leaves, and comes back the same day ...")
    report = await s.wait_report(token, promo["id"], lambda r: suppressed(r) > suppressed(middle))
    reasons = ", ".join(
        f"{k} +{v - middle['suppressed'].get(k, 0)}"
        for k, v in report["suppressed"].items()
        if k != "other_transition" and v > middle["suppressed"].get(k, 0)
    )
    s.out(
        f"  ... no second SMS: suppressed ({reasons}). Report so far: {report['positions']} positions,"
        f" {report['transitions']} transitions, {report['fired']} fired, {report['sent']} sent"
    )
    await s.unpin(handset)


async def step_bill(s: Scenario) -> None:
    from api.demo_data import DEMO_PROVIDERS
    from lbs.billing.hooks import print_demo_bill

    s.out("\n> The bill: every location and every SMS segment above was rated per provider contract")
    await print_demo_bill(s.settings, s.out, list(DEMO_PROVIDERS), s.clock())


ACTIVE_QUERY_HANDSET: Final = "+32470000003"  # a demo subscriber (French) the other steps leave alone


async def step_active_query(s: Scenario) -> None:
    """Live-scenario step (a :data:`Step`): the nearest pharmacy by SMS, in French, consent first."""
    s.out(
        "\n> Nearest pharmacy by SMS: the handset texts PHARMACIE to the short code; CityGuide may locate it only"
        "\n  with the subscriber's consent, then the LES locates it and the platform answers the 3 nearest places"
    )
    reply = await s.say(ACTIVE_QUERY_HANDSET, "PHARMACIE", lambda t: True)
    if "OUI CITYGUIDE" in reply:
        s.out("  (no consent yet: the platform asked for it, located nobody and billed nothing)")
        await s.say(ACTIVE_QUERY_HANDSET, "OUI CITYGUIDE", lambda t: "CITYGUIDE" in t)
        reply = await s.say(ACTIVE_QUERY_HANDSET, "PHARMACIE", lambda t: True)
    if not reply.startswith("Pharmacies"):
        raise RuntimeError(f"no list of pharmacies came back: {reply!r}")
    s.out("  (one SMS: distances rounded for walking, directions in French; the location and the SMS are billed)")


STEPS: list[Step] = [
    step_ping,
    step_where,
    step_consent,
    step_active_query,
    step_geofence,
    step_triggered_reports,
    step_opt_out,
    step_bill,
]


async def play(settings: Settings, clock: Clock, out: Out = print, steps: list[Step] | None = None) -> bool:
    """Play ``steps`` (all by default); print what happens in plain words. True when all of them worked."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        s = Scenario(settings, session, out, clock)
        try:
            for step in steps or STEPS:
                await step(s)
        except Exception as exc:
            out(f"\nDEMO FAILED: {exc}")
            return False
    out("\nDemo scenario: all steps passed.")
    return True
