"""``lbs billing ...`` through the parser the lead's CLI builds (register(sub) -> args.func(settings, args))."""

from __future__ import annotations

import argparse
import json

import pytest

from lbs.billing.cli import register
from lbs.billing.errors import MonthAlreadyClosed
from lbs.errors import InvalidArgument, NotFound
from lbs.settings import Settings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lbs")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_close_month_exactly_once(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("billing", "close-month", "2024-02", "--by", "ops")
    assert args.func(settings, args) == 0
    assert "2024-02 closed" in capsys.readouterr().out
    with pytest.raises(MonthAlreadyClosed):  # lbs/cli.py prints LbsError messages and exits 2
        args.func(settings, args)


def test_bad_month_and_unknown_provider(settings: Settings) -> None:
    args = parse("billing", "close-month", "2024-13")
    with pytest.raises(InvalidArgument):
        args.func(settings, args)
    args = parse("billing", "statement", "2024-01", "--provider", "Nobody")
    with pytest.raises(NotFound):
        args.func(settings, args)


def test_revenue_prints_json(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("billing", "revenue", "2024-03")
    assert args.func(settings, args) == 0
    assert json.loads(capsys.readouterr().out)["period"] == "2024-03"


def test_subcommand_is_required() -> None:
    with pytest.raises(SystemExit):
        parse("billing")


def test_top_up(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import secrets

    import asyncpg

    name = f"Cli{secrets.token_hex(3)}"

    async def add() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute("INSERT INTO providers (name) VALUES ($1)", name)
        finally:
            await conn.close()

    asyncio.run(add())
    args = parse("billing", "top-up", "5000", "--provider", name, "--key", "cli-1")
    assert args.func(settings, args) == 0
    assert args.func(settings, args) == 0  # same key: nothing added
    assert "50.00 EUR available" in capsys.readouterr().out.splitlines()[-1]
    bad = parse("billing", "top-up", "0", "--provider", name, "--key", "cli-2")
    with pytest.raises(InvalidArgument):
        bad.func(settings, bad)
