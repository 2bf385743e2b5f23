"""Every setting is documented, and the storage URLs follow the bootstrap's ports."""

from __future__ import annotations

import pytest

from lbs.settings import Settings


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


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
