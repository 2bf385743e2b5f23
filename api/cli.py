"""The ``lbs`` command: serve the platform, run the emulators, play the demo, manage the database and keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import structlog
from aiohttp import web

from api.root import ROLES, SERVE_ROLES, parse_roles
from lbs.billing.cli import register as register_billing
from lbs.clock import parse_instant
from lbs.devmode import DefaultSecretsRefused, refuse_default_secrets
from lbs.errors import LbsError
from lbs.pois.cli import register as register_pois
from lbs.settings import Settings


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


def _serve(settings: Settings, roles: list[str]) -> int:
    """The HTTP API, with the other ``roles`` of this process (default: SMPP bind and periodic jobs)."""
    from api.app import create_app

    app = create_app(settings, roles=roles)
    web.run_app(app, host=settings.api_host, port=settings.api_port, print=None)
    return 0


def _worker(settings: Settings, roles: list[str]) -> int:
    """A process running ``roles`` of the composition root, without the HTTP API, until interrupted."""
    from api.demo import serve_forever
    from api.root import Root

    async def main() -> None:
        async with Root(settings, settings.make_clock()).open(roles):
            print(f"worker running: {', '.join(roles)}", flush=True)
            await serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _les(settings: Settings) -> int:
    """``lbs les``: the LES emulator, configured by its own settings (``LBS_LES_*``); its clock follows ``clock_at``."""
    from les_simulator.les.app import create_les_app
    from les_simulator.les.clock import ShiftedClock
    from les_simulator.settings import LesSettings

    les = LesSettings()
    clock = ShiftedClock(parse_instant(settings.clock_at)) if settings.clock_at else None
    web.run_app(create_les_app(les, clock=clock), host=les.les_host, port=les.les_port, print=None)
    return 0


def _smsc() -> int:
    """``lbs smsc``: the SMSC emulator, configured by its own settings (``LBS_SMSC_*``)."""
    from api.demo import serve_forever, start_smsc
    from les_simulator.settings import SmscSettings

    smsc = SmscSettings()

    async def main() -> None:
        stop = await start_smsc(smsc)
        where = f"{smsc.smsc_host}:{smsc.smsc_port}, control on :{smsc.smsc_control_port}"
        print(f"SMSC emulator: SMPP on {where}")
        try:
            await serve_forever()
        finally:
            await stop()

    asyncio.run(main())
    return 0


def _demo(settings: Settings, once: bool, at: datetime | None) -> int:
    from api.demo import run_demo

    return asyncio.run(run_demo(settings, once=once, at=at))


def _db(settings: Settings, action: str) -> int:
    from lbs import migrate

    {"upgrade": migrate.upgrade, "downgrade": migrate.downgrade, "check": migrate.check}[action](settings.database_url)
    print(f"database {action}: done")
    return 0


def _demo_data(settings: Settings) -> int:
    from api.demo_data import load

    async def main() -> dict[str, int]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await load(conn, settings)
        finally:
            await conn.close()

    loaded = asyncio.run(main())
    print(f"demo data: {loaded['subscribers']} subscribers, {loaded['pois']} points of interest, short code 3311")
    return 0


def _keys_create(settings: Settings, role: str, name: str, provider: str | None) -> int:
    from lbs.apikeys import create_key

    async def main() -> str:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await create_key(conn, role=role, name=name, provider=provider)
        finally:
            await conn.close()

    token = asyncio.run(main())
    print(token)
    print("Store this key now: it is kept only as a hash and cannot be shown again.", file=sys.stderr)
    return 0


def _audit_verify(settings: Settings) -> int:
    from lbs.consent.audit import verify

    async def main() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            checked, broken = await verify(conn)
        finally:
            await conn.close()
        if broken is None:
            print(f"audit chain intact: {checked} rows verified")
            return 0
        print(
            f"audit chain BROKEN at subject {broken.subject[:12]}... seq {broken.seq} (row {broken.row_id}): "
            f"{broken.reason}; {checked} rows verified before it"
        )
        return 1

    return asyncio.run(main())


def _retention_run(settings: Settings) -> int:

    from lbs.consent.privacy_ops import run_retention
    from lbs.db import create_pool

    async def main() -> dict[str, int]:
        pool = await create_pool(settings)
        try:
            return await run_retention(pool, settings, settings.make_clock()())
        finally:
            await pool.close()

    touched = asyncio.run(main())
    print("retention: " + ", ".join(f"{k} {v} rows" for k, v in touched.items()))
    return 0


def _roles(text: str) -> list[str]:
    try:
        return parse_roles(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lbs", description="LBS & consent platform")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the platform API, its SMPP bind and the periodic jobs")
    serve.add_argument(
        "--roles",
        type=_roles,
        default=list(SERVE_ROLES),
        help=f"what this process runs besides the API: a comma list of {', '.join(ROLES)} (default: %(default)s)",
    )
    sub.add_parser("les", help="run the LES emulator (MLP over HTTP)")
    sub.add_parser("smsc", help="run the SMSC emulator (SMPP) and its control API")
    demo = sub.add_parser("demo", help="start everything in one process and play the live scenario")
    demo.add_argument("--once", action="store_true", help="exit after the scenario (0 = it worked)")
    demo.add_argument(
        "--at",
        type=_instant,
        metavar="ISO",
        help="play at this instant, e.g. 2026-12-01T10:00+01:00 (the platform's and the LES's clocks run from it)",
    )
    worker = sub.add_parser("worker", help="background workers")
    worker_sub = worker.add_subparsers(dest="worker", required=True)
    worker_sub.add_parser("messaging", help="SMPP bind, MO handling and MT dispatch, without the HTTP API")
    worker_sub.add_parser("geofence", help="consume position reports: fences, transitions, triggers")
    worker_sub.add_parser("scheduler", help="the periodic jobs: retention, prepaid holds, statements, reporting")
    sub.add_parser("demo-data", help="load the demo providers, applications, short code and subscribers")
    db = sub.add_parser("db", help="database schema (alembic)")
    db.add_argument("action", choices=["upgrade", "downgrade", "check"])
    audit = sub.add_parser("audit", help="the hash-chained audit log")
    audit.add_argument("action", choices=["verify"])
    retention = sub.add_parser("retention", help="forget what is past its retention")
    retention.add_argument("action", choices=["run"])
    register_billing(sub)
    register_pois(sub)
    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=["provider", "officer", "operator"])
    create.add_argument("--name", required=True)
    create.add_argument("--provider", help="provider name (role provider)")
    return parser


def _secrets_checked(args: argparse.Namespace, settings: Settings) -> Settings:
    """Servers, workers and emulators refuse development secrets outside dev mode; the demo is dev mode."""
    if args.command == "demo":
        return settings.model_copy(update={"dev_mode": True})
    if args.command in ("serve", "worker"):
        refuse_default_secrets(settings)
    elif args.command in ("les", "smsc"):
        from les_simulator.devmode import LES_SECRETS, SMSC_SECRETS, DefaultLoginsRefused, refuse_default_logins
        from les_simulator.settings import LesSettings, SmscSettings

        try:  # each emulator reads its own settings (the same environment)
            if args.command == "les":
                refuse_default_logins(LesSettings(), LES_SECRETS)
            else:
                refuse_default_logins(SmscSettings(), SMSC_SECRETS)
        except DefaultLoginsRefused as err:
            raise DefaultSecretsRefused(str(err)) from None
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        settings = _secrets_checked(args, Settings())
    except DefaultSecretsRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if hasattr(args, "func"):  # subcommands that other parts register (e.g. billing)
            return int(args.func(settings, args))
        if args.command == "serve":
            return _serve(settings, args.roles)
        if args.command == "worker":
            return _worker(settings, [args.worker])
        if args.command == "les":
            return _les(settings)
        if args.command == "smsc":
            return _smsc()
        if args.command == "demo":
            return _demo(settings, args.once, args.at)
        if args.command == "demo-data":
            return _demo_data(settings)
        if args.command == "audit":
            return _audit_verify(settings)
        if args.command == "retention":
            return _retention_run(settings)
        if args.command == "db":
            return _db(settings, args.action)
        return _keys_create(settings, args.role, args.name, args.provider)
    except LbsError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
