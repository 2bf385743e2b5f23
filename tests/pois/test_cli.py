"""``lbs pois import``: the subcommand registers, imports a file, and reports bad rows with their line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lbs.errors import InvalidArgument
from lbs.pois.cli import import_file, register
from lbs.settings import Settings
from tests.pois.conftest import Tenant


def test_register_adds_pois_import() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pois", "import", "x.csv", "--app", "CITYGUIDE", "--replace"])
    assert args.app == "CITYGUIDE" and args.replace and callable(args.func)


async def test_import_file(tmp_path: Path, settings: Settings, db: asyncpg.Connection[Any], tenant: Tenant) -> None:
    path = tmp_path / "pois.csv"
    path.write_text("id,name,category,lat,lon\n" + "".join(f"p{i},P {i},ATM,50.8{i},4.3{i}\n" for i in range(9)))
    report = await import_file(settings, path, "CITYGUIDE", "csv", False)
    assert report.inserted == 9
    path.write_text("id,name,category,lat,lon\np1,P,ATM,50,400\n")
    with pytest.raises(InvalidArgument, match="line 2: lon 400 is out of range"):
        await import_file(settings, path, "CITYGUIDE", "csv", False)
