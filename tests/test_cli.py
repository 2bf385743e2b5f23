"""The `lbs` command and the bootstrap, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from lbs.apikeys import authenticate
from lbs.settings import Settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
LBS = [sys.executable, "-m", "lbs.cli"]


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


def test_demo_once_exits_zero(settings: Settings) -> None:
    ports = {
        "LBS_API_PORT": str(settings.api_port),
        "LBS_LES_PORT": str(settings.les_port),
        "LBS_SMSC_PORT": str(settings.smsc_port),
        "LBS_SMSC_CONTROL_PORT": str(settings.smsc_control_port),
    }
    if "platform_url" in Settings.model_fields:
        ports["LBS_PLATFORM_URL"] = f"http://127.0.0.1:{settings.api_port}"
    done = run([*LBS, "demo", "--once"], settings, timeout=90, **ports)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PONG" in done.stdout
    assert "all steps passed" in done.stdout


def test_demo_once_fails_clearly_when_a_port_is_taken(settings: Settings) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        done = run(
            [*LBS, "demo", "--once"], settings, timeout=60, LBS_LES_PORT=str(taken), LBS_API_PORT=str(free_port())
        )
    assert done.returncode == 1
    assert "DEMO FAILED" in done.stdout
