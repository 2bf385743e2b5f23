"""HTTP control API of the SMSC emulator (``/sim/...``): send MOs, read inboxes, set failure modes, read PDUs.

Errors use the house shape ``{"status", "code", "message"}``. MSISDNs are E.164 with '+' (``%2B`` or a raw
'+' in paths both work).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from aiosmpplib import SmppCommandStatus
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from les_simulator.errors import InvalidArgument, NotFound, SimError
from les_simulator.msisdn import to_e164
from les_simulator.settings import SmscSettings
from les_simulator.smsc.handsets import HandsetState
from les_simulator.smsc.keys import SMSC
from les_simulator.smsc.modes import ModeName, ModeRequest, ReceiptStat, apply_mode
from les_simulator.smsc.server import SmscEmulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A handset's MO text: what one message from a phone may reasonably hold (a 5 KB MO is refused, not crashed on).
MAX_MO_CHARS = 1_600


class MoBody(BaseModel):
    """``POST /sim/mo``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    sender: str = Field(alias="from", min_length=1, max_length=32)
    to: str = Field(min_length=1, max_length=21)  # a short code, or a long number routed in smsc_routes
    text: str = Field(min_length=1, max_length=MAX_MO_CHARS)
    udh_ref_bits: Literal[8, 16] = 8


class ModeBody(BaseModel):
    """``POST /sim/mode``: one named mode with its parameters (``off: true`` switches just that one off)."""

    model_config = ConfigDict(extra="forbid")
    mode: ModeName
    delay_s: float | None = Field(None, ge=0, le=600)
    rate: float | None = Field(None, gt=0, le=100_000)
    status: str | None = None
    ratio: float | None = Field(None, ge=0, le=1)
    stat: ReceiptStat | None = None
    n: int | None = Field(None, ge=1)
    off: bool = False


async def _parse(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await request.json())
    except ValueError as exc:  # JSONDecodeError and ValidationError are both ValueErrors
        detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidArgument(f"invalid body: {detail}") from exc


def _msisdn(raw: str) -> str:
    return to_e164(raw.replace(" ", "+", 1) if raw.startswith(" ") else raw)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as ``{"status", "code", "message"}``."""
    try:
        return await handler(request)
    except SimError as err:
        return web.json_response(err.to_body(), status=err.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = (exc.reason or "error").upper().replace(" ", "_")
        return web.json_response({"status": exc.status, "code": code, "message": exc.reason}, status=exc.status)


async def post_mo(request: web.Request) -> web.Response:
    """A handset sends an MO to a short code: 202 with the MO's id, 404/503 if nobody can take it."""
    body: MoBody = await _parse(request, MoBody)
    mo = request.app[SMSC].send_mo(_msisdn(body.sender), body.to, body.text, body.udh_ref_bits)
    return web.json_response(mo.to_json(), status=202)


async def get_mo(request: web.Request) -> web.Response:
    """One MO and how far it got."""
    mo = request.app[SMSC].mos.get(request.match_info["mo_id"])
    if mo is None:
        raise NotFound("no such MO")
    return web.json_response(mo.to_json())


async def get_inbox(request: web.Request) -> web.Response:
    """The MTs a handset received, reassembled, oldest first."""
    msisdn = _msisdn(request.match_info["msisdn"])
    return web.json_response([message.to_json() for message in request.app[SMSC].handsets.inbox(msisdn)])


async def delete_inbox(request: web.Request) -> web.Response:
    """Empty one handset's inbox."""
    request.app[SMSC].handsets.clear(_msisdn(request.match_info["msisdn"]))
    return web.Response(status=204)


class HandsetBody(BaseModel):
    """``PUT /sim/handsets/{msisdn}``."""

    model_config = ConfigDict(extra="forbid")
    state: HandsetState


async def put_handset(request: web.Request) -> web.Response:
    """Set a handset's state: ``on``, ``absent`` (MTs held until it is on again or they expire), ``unknown``
    (UNDELIV), ``barred`` (REJECTD)."""
    body: HandsetBody = await _parse(request, HandsetBody)
    msisdn = _msisdn(request.match_info["msisdn"])
    released = request.app[SMSC].set_handset_state(msisdn, body.state)
    return web.json_response({"msisdn": msisdn, "state": body.state, "delivered_now": released})


async def get_health(request: web.Request) -> web.Response:
    """Listener, binds, queues, modes."""
    return web.json_response(request.app[SMSC].health())


async def get_pdus(request: web.Request) -> web.Response:
    """Every PDU received, oldest first; ``?command=submit_sm`` and ``?system_id=`` filter, ``?hex=false``
    leaves the raw octets out (a bench reading 100,000 records)."""
    command, system_id = request.query.get("command"), request.query.get("system_id")
    with_hex = request.query.get("hex", "true").lower() not in ("false", "0", "no")
    records = [
        record.to_json(with_hex)
        for record in request.app[SMSC].pdus
        if (command is None or record.command == command) and (system_id is None or record.system_id == system_id)
    ]
    return web.json_response(records)


async def delete_pdus(request: web.Request) -> web.Response:
    """Forget the PDU log."""
    request.app[SMSC].pdus.clear()
    return web.Response(status=204)


async def get_stats(request: web.Request) -> web.Response:
    """submit_sm counts and received rate per account and per sender, as the SMSC measured them."""
    return web.json_response(request.app[SMSC].stats.to_json())


async def delete_stats(request: web.Request) -> web.Response:
    """Start counting afresh."""
    request.app[SMSC].stats.clear()
    return web.Response(status=204)


async def get_mode(request: web.Request) -> web.Response:
    """The failure modes now on."""
    return web.json_response(request.app[SMSC].modes.to_json())


async def post_mode(request: web.Request) -> web.Response:
    """Switch a failure mode on (or off); ``unbind`` unbinds every ESME now."""
    body: ModeBody = await _parse(request, ModeBody)
    if body.status is not None and body.status not in SmppCommandStatus.__members__:
        raise InvalidArgument(f"unknown SMPP status {body.status!r} (use a name such as ESME_RSYSERR)")
    smsc = request.app[SMSC]
    if body.mode == "unbind":
        unbound = await smsc.unbind_all()
        return web.json_response({**smsc.modes.to_json(), "unbound": unbound})
    apply_mode(smsc.modes, ModeRequest(**body.model_dump()))
    return web.json_response(smsc.modes.to_json())


class RestartBody(BaseModel):
    """``POST /sim/restart``."""

    model_config = ConfigDict(extra="forbid")
    down_s: float = Field(0.0, ge=0, le=60)
    keep_store: bool = True


async def post_restart(request: web.Request) -> web.Response:
    """Restart the SMPP side (every bind drops); the control API stays up. Answers once it listens again."""
    body: RestartBody = await _parse(request, RestartBody)
    smsc = request.app[SMSC]
    port = await smsc.restart(body.down_s, body.keep_store)
    return web.json_response({"port": port, "pending_deliveries": smsc.health()["pending_deliveries"]})


async def post_reset(request: web.Request) -> web.Response:
    """Forget inboxes, PDUs and MOs; back to ``happy``."""
    request.app[SMSC].reset()
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    """The ``/sim`` routes."""
    app.router.add_post("/sim/mo", post_mo)
    app.router.add_get("/sim/mo/{mo_id}", get_mo)
    app.router.add_get("/sim/handsets/{msisdn}/inbox", get_inbox)
    app.router.add_delete("/sim/handsets/{msisdn}/inbox", delete_inbox)
    app.router.add_put("/sim/handsets/{msisdn}", put_handset)
    app.router.add_get("/sim/health", get_health)
    app.router.add_get("/sim/pdus", get_pdus)
    app.router.add_delete("/sim/pdus", delete_pdus)
    app.router.add_get("/sim/stats", get_stats)
    app.router.add_delete("/sim/stats", delete_stats)
    app.router.add_get("/sim/mode", get_mode)
    app.router.add_post("/sim/mode", post_mode)
    app.router.add_post("/sim/reset", post_reset)
    app.router.add_post("/sim/restart", post_restart)


def create_smsc_control_app(smsc: SmscEmulator) -> web.Application:
    """The control API over an emulator the caller starts and stops."""
    app = web.Application(middlewares=[error_middleware])
    app[SMSC] = smsc
    setup_routes(app)
    return app


def create_smsc_app(settings: SmscSettings | None = None) -> web.Application:
    """The deployable: the control API, with the SMPP listener as a ``cleanup_ctx`` resource."""
    smsc = SmscEmulator(settings)
    app = create_smsc_control_app(smsc)

    async def smpp_listener(app: web.Application) -> AsyncIterator[None]:
        """The SMPP side lives as long as the app."""
        await app[SMSC].start()
        yield
        await app[SMSC].stop()

    app.cleanup_ctx.append(smpp_listener)
    return app
