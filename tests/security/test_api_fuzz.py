"""Property-based fuzzing of the whole API from its own /openapi.json (schemathesis): no input gives a 5xx.

Every operation is called with a key of each role (operator, officer, provider) and without one, with valid and
with invalid data. The app runs on a loopback port; callback URLs resolve through a stub (no DNS leaves the
machine), and the SMSC bind and the LES reporting are off (nothing to reach).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import asyncpg
import hypothesis
import schemathesis
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode

from api.app import create_app
from api.keys import OUTBOUND_RESOLVER_KEY
from lbs.apikeys import create_key
from lbs.settings import Settings
from tests.stub_dns import StubResolver

EXAMPLES = 8  # per operation, role and mode: ~60 operations x their roles x 2 modes: about 20 s


async def _keys(db: asyncpg.Connection[Any]) -> dict[str, str]:
    await db.execute("INSERT INTO providers (name) VALUES ('Acme')")
    await db.execute("INSERT INTO applications (provider_id, name) SELECT id, 'ACMEAPP' FROM providers")
    return {
        "operator": await create_key(db, role="operator", name="ops"),
        "officer": await create_key(db, role="officer", name="dpo"),
        "provider": await create_key(db, role="provider", name="acme", provider="Acme"),
    }


def _roles(operation: Any, keys: dict[str, str]) -> list[dict[str, str]]:
    """The keys an operation is for ("Roles: a, b" in its description; every key for "any"; none when open)."""
    raw = operation.definition.raw
    if not raw.get("security"):
        return [{}]
    described = raw.get("description", "")
    named = described.split("Roles:", 1)[1].split(".", 1)[0] if "Roles:" in described else "any"
    wanted = [r.strip() for r in named.split(",")]
    chosen = [k for role, k in keys.items() if role in wanted or "any" in wanted] or list(keys.values())
    return [{"Authorization": f"Bearer {k}"} for k in chosen]


def _fuzz(doc: dict[str, Any], base_url: str, keys: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for role in _roles(operation, keys):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, base_url, role, failures)
    return failures


def _run(operation: Any, mode: GenerationMode, base_url: str, role: dict[str, str], failures: list[str]) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=role, timeout=10)
        documented = str(response.status_code) in operation.definition.raw.get("responses", {})
        if response.status_code >= 500 and not (response.status_code == 503 and documented):
            failures.append(f"{operation.method.upper()} {case.formatted_path} -> {response.status_code}: "
                            f"{case.query!r:.100} {case.body!r:.200} {response.text[:200]}")  # fmt: skip

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


async def test_no_input_gives_a_server_error(settings: Settings, db: asyncpg.Connection[Any]) -> None:
    app = create_app(settings.model_copy(update={"smpp_enabled": False, "geofence_reporting": False}))
    app[OUTBOUND_RESOLVER_KEY] = StubResolver({})  # no name resolves: no DNS query leaves the machine
    keys = await _keys(db)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            doc = await (await http.get(f"{base}/openapi.json")).json()
        failures = await asyncio.to_thread(_fuzz, doc, base, keys)
    assert failures == [], "\n".join(failures)
