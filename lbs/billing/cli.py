"""``lbs billing ...``: close a month, print a statement, show the operator's revenue, top up prepaid credit.

``lbs/cli.py`` calls :func:`register` with its sub-parsers; each parser sets ``func(settings, args) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg

from lbs.billing.fees import schedule_from
from lbs.billing.prepaid import top_up
from lbs.billing.rating import format_minor, parse_period, period_label
from lbs.billing.render import to_csv, to_html
from lbs.billing.revenue import revenue
from lbs.billing.statements import build_statement, close_month, get_statement
from lbs.errors import NotFound
from lbs.settings import Settings


def _run(settings: Settings, work: Callable[[asyncpg.Connection[Any]], Awaitable[int]]) -> int:
    async def main() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def _close(settings: Settings, args: argparse.Namespace) -> int:
    period: date = parse_period(args.month)

    async def work(conn: asyncpg.Connection[Any]) -> int:
        statements = await close_month(
            conn, period, closed_by=args.by, schedule=schedule_from(settings), now=settings.make_clock()()
        )
        print(f"{period_label(period)} closed: {len(statements)} statement(s)")
        for s in statements:
            print(f"  #{s.id} {s.provider_name}: total {format_minor(s.totals.total_minor, s.currency)} excl. tax")
        return 0

    return _run(settings, work)


async def _provider_id(conn: asyncpg.Connection[Any], name: str) -> int:
    pid = await conn.fetchval("SELECT id FROM providers WHERE name = $1", name)
    if pid is None:
        raise NotFound(f"no provider named {name!r}")
    return int(pid)


def _statement(settings: Settings, args: argparse.Namespace) -> int:
    period = parse_period(args.month)

    async def work(conn: asyncpg.Connection[Any]) -> int:
        pid = await _provider_id(conn, args.provider)
        sid = await conn.fetchval(
            "SELECT id FROM billing_statements WHERE provider_id = $1 AND period = $2", pid, period
        )
        s = (
            await get_statement(conn, sid)
            if sid
            else await build_statement(conn, pid, period, schedule_from(settings), settings.make_clock()())
        )
        text = {"json": lambda: json.dumps(s.to_json(), indent=2), "csv": lambda: to_csv(s), "html": lambda: to_html(s)}
        print(text[args.format]())
        return 0

    return _run(settings, work)


def _revenue(settings: Settings, args: argparse.Namespace) -> int:
    period = parse_period(args.month)

    async def work(conn: asyncpg.Connection[Any]) -> int:
        print(json.dumps(await revenue(conn, period, schedule_from(settings)), indent=2))
        return 0

    return _run(settings, work)


def _top_up(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection[Any]) -> int:
        pid = await _provider_id(conn, args.provider)
        balance = await top_up(
            conn,
            pid,
            args.amount_minor,
            idempotency_key=args.key,
            currency=settings.billing_currency,
            validity_days=settings.billing_prepaid_validity_days,
            now=settings.make_clock()(),
        )
        left = format_minor(balance.available_minor, balance.currency)
        print(f"{args.provider}: {left} available until {balance.expires_at:%Y-%m-%d}")
        return 0

    return _run(settings, work)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lbs billing close-month|statement|revenue|top-up``."""
    billing = sub.add_parser("billing", help="rating and charging: close a month, statements, revenue")
    cmds = billing.add_subparsers(dest="billing_command", required=True)
    close = cmds.add_parser("close-month", help="write every provider's statement for a month, exactly once")
    close.add_argument("month", help="YYYY-MM, e.g. 2026-11")
    close.add_argument("--by", default="cli", help="who closes it (kept with the closed month)")
    close.set_defaults(func=_close)
    stmt = cmds.add_parser("statement", help="print a provider's statement (a live preview while the month is open)")
    stmt.add_argument("month", help="YYYY-MM")
    stmt.add_argument("--provider", required=True, help="provider name")
    stmt.add_argument("--format", choices=["json", "csv", "html"], default="json")
    stmt.set_defaults(func=_statement)
    rev = cmds.add_parser("revenue", help="the operator's revenue per short code and provider, revenue shares")
    rev.add_argument("month", help="YYYY-MM")
    rev.set_defaults(func=_revenue)
    top = cmds.add_parser("top-up", help="add prepaid credit to a provider (idempotent per --key)")
    top.add_argument("amount_minor", type=int, help="credits in minor units (cents), e.g. 5000 for 50.00")
    top.add_argument("--provider", required=True, help="provider name")
    top.add_argument("--key", required=True, help="idempotency key: running it again adds nothing")
    top.set_defaults(func=_top_up)
