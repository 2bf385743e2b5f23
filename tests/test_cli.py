"""The `lbs` command and the bootstrap, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lbs.apikeys import authenticate
from lbs.settings import Settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
LBS = [sys.executable, "-m", "api.cli"]


def run(args: list[str], settings: Settings, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, **env}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


async def test_keys_create_prints_a_working_token_once(settings: Settings, db: asyncpg.Connection[Any]) -> None:
    await db.execute("INSERT INTO providers (name) VALUES ('Acme')")
    done = run([*LBS, "keys", "create", "--role", "provider", "--name", "acme-key", "--provider", "Acme"], settings)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    principal = await authenticate(db, token)
    assert principal is not None and principal.role == "provider" and principal.name == "acme-key"
    assert token not in str(await db.fetch("SELECT * FROM api_keys"))


async def test_keys_create_unknown_provider_is_a_clear_error(settings: Settings, db: asyncpg.Connection[Any]) -> None:
    done = run([*LBS, "keys", "create", "--role", "provider", "--name", "x", "--provider", "Nope"], settings)
    assert done.returncode == 2
    assert "no provider named 'Nope'" in done.stderr


async def test_demo_data_is_idempotent(settings: Settings, db: asyncpg.Connection[Any]) -> None:
    env = {"LBS_DEMO_SUBSCRIBERS": "200"}
    for _ in range(2):
        done = run([*LBS, "demo-data"], settings, **env)
        assert done.returncode == 0, done.stderr
    assert await db.fetchval("SELECT count(*) FROM subscribers") == 200
    assert await db.fetchval("SELECT count(*) FROM applications WHERE name = 'CITYGUIDE'") == 1
    assert await db.fetchval("SELECT min(msisdn) FROM subscribers") == "+32470000000"
    assert await db.fetchval("SELECT max(msisdn) FROM subscribers") == "+32470000199"


def test_bootstrap_twice_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    first = subprocess.run(
        ["bash", "scripts/bootstrap"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        ["bash", "scripts/bootstrap"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    changes = [
        line for line in second.stdout.splitlines() if any(w in line for w in ("creating", "starting", "installing"))
    ]
    assert changes == []
    assert "PostgreSQL ready" in second.stdout and "Redis ready" in second.stdout


def demo_ports(settings: Settings) -> dict[str, str]:
    return {
        "LBS_API_PORT": str(settings.api_port),
        "LBS_LES_PORT": str(settings.les_port),
        "LBS_SMSC_PORT": str(settings.smsc_port),
        "LBS_SMSC_CONTROL_PORT": str(settings.smsc_control_port),
        "LBS_MLP_PUSH_PORT": str(settings.mlp_push_port),
    }


def test_demo_once_exits_zero_out_of_hours(settings: Settings) -> None:
    # Saturday night in Brussels, whatever the wall clock says: the promotion step says the offer waits for nobody.
    done = run([*LBS, "demo", "--once", "--at", "2026-12-05T23:30+01:00"], settings, timeout=90, **demo_ports(settings))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the clock starts at 2026-12-05T22:30:00+00:00" in done.stdout
    assert "PONG" in done.stdout
    assert "it is Saturday 05 December 23:30 in Brussels, a weekend day" in done.stdout
    assert "the offer is suppressed (quiet hours)" in done.stdout
    assert "all steps passed" in done.stdout


def test_demo_at_refuses_an_instant_without_offset(settings: Settings) -> None:
    done = run([*LBS, "demo", "--once", "--at", "2026-12-01T10:00"], settings, timeout=30)
    assert done.returncode == 2
    assert "no UTC offset" in done.stderr


@pytest.mark.parametrize(
    ("port_setting", "part"),
    [("LBS_LES_PORT", "LES emulator"), ("LBS_SMSC_PORT", "SMSC emulator"), ("LBS_API_PORT", "platform API")],
)
def test_demo_once_fails_fast_naming_the_part_when_its_port_is_taken(
    settings: Settings, port_setting: str, part: str
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        ports = {**demo_ports(settings), port_setting: str(taken)}
        # A generous bound on the whole process (interpreter start included): before, it retried for minutes.
        done = run([*LBS, "demo", "--once"], settings, timeout=20, **ports)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("DEMO FAILED")]
    assert len(failed) == 1, done.stdout
    assert part in failed[0] and f"127.0.0.1:{taken}" in failed[0] and "address already in use" in failed[0]


def test_demo_once_fails_fast_when_redis_is_unreachable(settings: Settings) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    done = run([*LBS, "demo", "--once"], settings, timeout=20, REDIS_URL=dead, **demo_ports(settings))
    assert done.returncode == 1
    assert f"DEMO FAILED: Redis at 127.0.0.1:{dead.split(':')[2]}" in done.stdout
