"""Every setting (the platform's and the emulators') is documented, and the URLs follow their ports."""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from lbs.settings import Settings
from les_simulator.settings import LesSettings, SmscSettings


@pytest.mark.parametrize("cls", [Settings, LesSettings, SmscSettings])
def test_every_setting_has_a_description(cls: type[BaseSettings]) -> None:
    undocumented = [name for name, f in cls.model_fields.items() if not f.description]
    assert undocumented == []


def test_the_emulators_read_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """One environment configures both sides: LBS_LES_PORT moves the LES and the platform's MLP URL together."""
    for var in ("LBS_LES_URL", "LBS_LES_PRIVACY_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LBS_LES_PORT", "9310")
    monkeypatch.setenv("LBS_SMSC_PORT", "2875")
    monkeypatch.setenv("LBS_API_PORT", "8180")
    assert Settings().les_url.endswith(":9310/mlp") and LesSettings().les_port == 9310
    assert Settings().smsc_port == SmscSettings().smsc_port == 2875
    assert LesSettings().les_privacy_url == "http://127.0.0.1:8180/v1/privacy/check"


def test_emulator_only_settings_live_with_the_emulators() -> None:
    """A field only the emulators read belongs to them, not to the platform (and the other way round)."""
    emulator_only = (set(LesSettings.model_fields) | set(SmscSettings.model_fields)) - set(Settings.model_fields)
    assert not {"les_clients", "smsc_accounts", "les_latency_scale", "smsc_dlr_delay_s"} - emulator_only
    assert not {"mlp_client_pwd", "smpp_password", "database_url"} & (
        set(LesSettings.model_fields) | set(SmscSettings.model_fields)
    )


def test_urls_follow_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DATABASE_URL", "LBS_DATABASE_URL", "REDIS_URL", "LBS_REDIS_URL", "LBS_LES_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LBS_PG_PORT", "5433")
    monkeypatch.setenv("LBS_REDIS_PORT", "6380")
    s = Settings()
    assert s.database_url == "postgresql://lbs:lbs@127.0.0.1:5433/lbs"
    assert s.redis_url == "redis://127.0.0.1:6380/0"
    assert s.sqlalchemy_url.startswith("postgresql+asyncpg://")


def test_explicit_urls_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/x")
    assert Settings().database_url == "postgresql://u:p@db.example:5432/x"
