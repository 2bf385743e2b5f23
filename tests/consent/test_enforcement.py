"""Both sides refuse: the platform before it asks, the LES before it discloses; either alone still protects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from api.demo import les_settings_for
from api.keys import CONSENT_KEY, LOCATION_KEY, MLP_CLIENT_KEY, PG_POOL_KEY
from lbs.consent import audit, registry
from lbs.consent.decision import Precision, Purpose
from lbs.location import COARSE_ACCURACY_M, ConsentRefused, LocationService
from lbs.mlp import MlpClient
from lbs.mlp.errors import PositioningNotAllowed
from lbs.settings import Settings
from les_simulator.les.app import create_les_app
from les_simulator.les.privacy import LocalPrivacyChecker, PrivacyDecision, PrivacyQuery
from tests.conftest import Stack, free_port

SUB = "+32470000031"


async def grant(stack: Stack, precision: Precision = Precision.EXACT) -> None:
    service = stack.app[CONSENT_KEY]
    await service.grant(
        SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, precision, registry.Source("api", "test", {}), timedelta(days=1)
    )


async def received(stack: Stack, http: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/sim/received") as resp:
        return list((await resp.json())["requests"])


async def test_platform_check_off_les_still_refuses(stack: Stack) -> None:
    client: MlpClient = stack.app[MLP_CLIENT_KEY]
    with pytest.raises(PositioningNotAllowed):  # straight to the LES, no platform check: result 202
        await client.locate(SUB, service="CITYGUIDE")


class AllowAll(LocalPrivacyChecker):
    """An LES whose privacy check is switched off."""

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        return PrivacyDecision(True, "exact", "check disabled for this test")


@pytest.fixture
async def open_les(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    runner = web.AppRunner(create_les_app(les_settings_for(settings, les_port=port), privacy=AllowAll()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_les_check_off_platform_still_refuses(stack: Stack, open_les: str) -> None:
    client = MlpClient(stack.http, stack.settings.model_copy(update={"les_url": f"{open_les}/mlp"}))
    service = LocationService(stack.app[PG_POOL_KEY], stack.app[CONSENT_KEY], client)
    with pytest.raises(ConsentRefused) as refused:
        await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id="t-1")
    assert refused.value.code == "CONSENT_REQUIRED" and refused.value.status == 403
    assert await received(stack, stack.http, open_les) == []  # nothing was even asked
    await grant(stack)
    located = await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id="t-2")
    assert located.position.accuracy_m > 0
    assert len(await received(stack, stack.http, open_les)) == 1


async def test_allowed_location_is_audited_and_billed_once(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await grant(stack)
    service: LocationService = stack.app[LOCATION_KEY]
    located = await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id="req-42")
    assert located.decision.precision == Precision.EXACT
    subject = audit.pseudonym(stack.settings.pseudonym_key, SUB)
    rows = await db.fetch("SELECT kind, request_id, precision FROM audit_log WHERE subject = $1 ORDER BY seq", subject)
    assert [(r["kind"], r["request_id"], r["precision"]) for r in rows][-1] == ("disclosure", "req-42", "exact")
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs WHERE idempotency_key = 'loc:req-42'") == 1


async def test_revocation_takes_effect_before_the_next_disclosure(stack: Stack) -> None:
    await grant(stack)
    service: LocationService = stack.app[LOCATION_KEY]
    await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id="r-1")
    await stack.app[CONSENT_KEY].revoke(SUB, "CITYGUIDE", None, registry.Source("sms", SUB, {}))
    with pytest.raises(ConsentRefused):
        await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id="r-2")
    with pytest.raises(PositioningNotAllowed):  # and the LES, asked directly, refuses at once too
        await stack.app[MLP_CLIENT_KEY].locate(SUB, service="CITYGUIDE")


async def test_coarse_grant_never_gives_an_exact_position(stack: Stack) -> None:
    await grant(stack, Precision.COARSE)
    service: LocationService = stack.app[LOCATION_KEY]
    for i in range(3):
        located = await service.locate(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, request_id=f"c-{i}")
        assert located.position.accuracy_m >= COARSE_ACCURACY_M
        assert located.position.precision == "coarse"
