"""Default secrets (issue 19): outside dev mode, no server, worker or emulator starts with a development secret or
login; the refusal is one line naming the setting. In dev mode, and with real secrets, they start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from lbs.devmode import PLATFORM_SECRETS, DefaultSecretsRefused, refuse_default_secrets
from lbs.settings import Settings
from les_simulator.devmode import LES_SECRETS, SMSC_SECRETS, DefaultLoginsRefused, refuse_default_logins
from les_simulator.settings import LesSettings, SmscSettings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LBS = [sys.executable, "-m", "api.cli"]
REAL = {
    "privacy_internal_key": "k-" + "9" * 30,
    "pseudonym_key": "p-" + "8" * 30,
    "mlp_client_pwd": "c-" + "7" * 20,
    "mlp_self_client_pwd": "s-" + "6" * 20,
    "mlp_push_pwd": "u-" + "5" * 20,
    "smpp_password": "smpp5678",
    "oauth_jwt_secret": "j-" + "3" * 40,
}
REAL_EMULATORS = {"les_clients": {"lbs": "l-" + "4" * 20}, "smsc_accounts": {"lbs": "smpp5678"}}


def env_of(dev: bool, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBS_")}
    env["LBS_DEV_MODE"] = "1" if dev else "0"
    return env | values


def test_every_development_secret_is_named_outside_dev_mode() -> None:
    with pytest.raises(DefaultSecretsRefused) as info:
        refuse_default_secrets(Settings(dev_mode=False))
    message = str(info.value)
    assert "\n" not in message
    for name in PLATFORM_SECRETS:
        assert f"LBS_{name.upper()}" in message


def test_dev_mode_accepts_them_and_real_secrets_need_no_dev_mode() -> None:
    refuse_default_secrets(Settings(dev_mode=True))
    refuse_default_secrets(Settings(dev_mode=False, **REAL))


@pytest.mark.parametrize("name", PLATFORM_SECRETS)
@pytest.mark.parametrize("value", ["", "demo", "dev-internal-key"])
def test_an_empty_or_reused_development_value_is_refused(name: str, value: str) -> None:
    with pytest.raises(DefaultSecretsRefused) as info:
        refuse_default_secrets(Settings(dev_mode=False, **(REAL | {name: value})))
    assert f"LBS_{name.upper()}" in str(info.value)


@pytest.mark.parametrize(
    ("names", "setting", "value"),
    [
        (LES_SECRETS, "les_clients", {"demo": "demo"}),
        (LES_SECRETS, "les_clients", {"acme": "demo"}),
        (LES_SECRETS, "privacy_internal_key", "dev-internal-key"),
        (SMSC_SECRETS, "smsc_accounts", {"demo": "demo"}),
    ],
)
def test_the_emulators_refuse_their_development_logins(names: tuple[str, ...], setting: str, value: object) -> None:
    real: LesSettings | SmscSettings
    if names == LES_SECRETS:
        real = LesSettings(
            dev_mode=False,
            privacy_internal_key=REAL["privacy_internal_key"],
            les_clients=REAL_EMULATORS["les_clients"],
        )
    else:
        real = SmscSettings(dev_mode=False, smsc_accounts=REAL_EMULATORS["smsc_accounts"])
    refuse_default_logins(real, names)
    with pytest.raises(DefaultLoginsRefused) as info:
        refuse_default_logins(real.model_copy(update={setting: value}), names)
    assert f"LBS_{setting.upper()}" in str(info.value)
    refuse_default_logins(real.model_copy(update={setting: value, "dev_mode": True}), names)


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        ([*LBS, "serve"], "LBS_PRIVACY_INTERNAL_KEY"),
        ([*LBS, "worker", "messaging"], "LBS_SMPP_PASSWORD"),
        ([*LBS, "worker", "geofence"], "LBS_PSEUDONYM_KEY"),
        ([*LBS, "les"], "LBS_LES_CLIENTS"),
        ([*LBS, "smsc"], "LBS_SMSC_ACCOUNTS"),
        ([sys.executable, "-m", "les_simulator.les"], "LBS_LES_CLIENTS"),
        ([sys.executable, "-m", "les_simulator.les", "--standalone"], "LBS_LES_CLIENTS"),
        ([sys.executable, "-m", "les_simulator.smsc"], "LBS_SMSC_ACCOUNTS"),
    ],
)
def test_servers_refuse_to_start_with_development_secrets(command: list[str], setting: str) -> None:
    """Refused before any I/O: nothing is bound or connected (the addresses point nowhere that answers)."""
    env = env_of(False, DATABASE_URL="postgresql://nobody@127.0.0.1:9/none", REDIS_URL="redis://127.0.0.1:9/0")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert setting in lines[0] and "LBS_DEV_MODE" in lines[0]


Spawn = Callable[[list[str], dict[str, str]], subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a server process; every one is stopped at the end of the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True))
        return procs[-1]

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


async def answers(url: str, proc: subprocess.Popen[str], within_s: float = 30.0) -> int:
    """The HTTP status of ``url`` once the process serves it (fails if the process exits first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                async with http.get(url) as resp:
                    return resp.status
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.mark.parametrize("dev", [True, False])
async def test_the_les_emulator_starts_in_dev_mode_or_with_real_logins(spawn: Spawn, dev: bool) -> None:
    port = free_port()
    logins = {} if dev else {"LBS_LES_CLIENTS": '{"lbs": "l-44444444"}', "LBS_PRIVACY_INTERNAL_KEY": "k-99999999"}
    env = env_of(dev, LBS_LES_PORT=str(port), **logins)
    proc = spawn([*LBS, "les"], env)
    assert await answers(f"http://127.0.0.1:{port}/sim/mode", proc) == 200


async def test_the_platform_serves_with_real_secrets_outside_dev_mode(spawn: Spawn, settings: Settings) -> None:
    api, push = free_port(), free_port()
    values = {f"LBS_{k.upper()}": v for k, v in REAL.items()}
    env = env_of(
        False,
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        LBS_API_PORT=str(api),
        LBS_MLP_PUSH_PORT=str(push),
        LBS_SMPP_ENABLED="false",
        LBS_GEOFENCE_REPORTING="false",
        **values,
    )
    proc = spawn([*LBS, "serve"], env)
    assert await answers(f"http://127.0.0.1:{api}/health", proc) in (200, 503)
    async with aiohttp.ClientSession() as http, http.post(f"http://127.0.0.1:{push}/mlp/push", data=b"x") as resp:
        assert resp.status == 401  # its push listener is up, on its own port, and wants credentials
