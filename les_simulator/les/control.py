"""The emulator's control API on the same port: ``/sim/...`` (health, positions, failure modes, received log)."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from les_simulator.les.keys import CLOCK_KEY, POPULATION_KEY, SERVICE_KEY, SETTINGS_KEY, STATE_KEY, TRIGGERS_KEY
from les_simulator.les.state import MODES, Mode

M = TypeVar("M", bound=BaseModel)


class PositionBody(BaseModel):
    """``PUT /sim/subscribers/{msisdn}/position``."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ModeBody(BaseModel):
    """``PUT /sim/mode``: a failure mode, global or for one subscriber."""

    mode: Mode
    msisdn: str | None = None


def _bad(message: str, status: int = 400) -> web.HTTPException:
    cls = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return cls(
        text=f'{{"status": {status}, "code": "INVALID_ARGUMENT", "message": "{message}"}}',
        content_type="application/json",
    )


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        raise _bad(str(exc.errors(include_url=False)[0]["msg"]).replace('"', "'")) from None


def _index(request: web.Request) -> int:
    msisdn = request.match_info["msisdn"]
    index = request.app[POPULATION_KEY].index_of_msisdn(msisdn)
    if index is None:
        raise _bad(f"unknown subscriber {msisdn}", 404)
    return index


async def health(request: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"status": "ok"})


async def put_position(request: web.Request) -> web.Response:
    """Move a subscriber to a fixed point (it stays there, present, until DELETE)."""
    index = _index(request)
    body = await _body(request, PositionBody)
    request.app[STATE_KEY].overrides[index] = (body.lat, body.lon)
    request.app[STATE_KEY].last_fix.pop(index, None)
    return web.json_response({"msisdn": request.app[POPULATION_KEY].msisdn(index), "lat": body.lat, "lon": body.lon})


async def get_position(request: web.Request) -> web.Response:
    """The subscriber's true position now, and whether it is moved by hand or by the mobility model."""
    index = _index(request)
    app = request.app
    now = app[CLOCK_KEY].now()
    lat, lon = app[SERVICE_KEY].true_position(index, now)
    moved = index in app[STATE_KEY].overrides
    absent = not moved and app[POPULATION_KEY].is_absent(index, now, app[SETTINGS_KEY].les_absent_share)
    population = app[POPULATION_KEY]
    return web.json_response(
        {
            "msisdn": population.msisdn(index),
            "imsi": population.imsi(index),
            "lat": lat,
            "lon": lon,
            "source": "override" if moved else "model",
            "absent": absent,
            "at": now.isoformat(),
        }
    )


async def delete_position(request: web.Request) -> web.Response:
    """Give the subscriber back to the mobility model."""
    request.app[STATE_KEY].overrides.pop(_index(request), None)
    return web.json_response({"status": "ok"})


async def get_received(request: web.Request) -> web.Response:
    """What the emulator received, newest last."""
    return web.json_response({"requests": list(request.app[STATE_KEY].received)})


async def delete_received(request: web.Request) -> web.Response:
    """Forget the received log."""
    request.app[STATE_KEY].received.clear()
    return web.json_response({"status": "ok"})


async def put_mode(request: web.Request) -> web.Response:
    """Set a failure mode globally, or for one subscriber when ``msisdn`` is given."""
    body = await _body(request, ModeBody)
    state = request.app[STATE_KEY]
    if body.msisdn is None:
        state.global_mode = body.mode
    else:
        index = request.app[POPULATION_KEY].index_of_msisdn(body.msisdn)
        if index is None:
            raise _bad(f"unknown subscriber {body.msisdn}", 404)
        state.subscriber_modes[index] = body.mode
    return await get_mode(request)


async def get_mode(request: web.Request) -> web.Response:
    """The global mode and the per-subscriber ones."""
    state = request.app[STATE_KEY]
    population = request.app[POPULATION_KEY]
    subs = {population.msisdn(i): m for i, m in state.subscriber_modes.items()}
    return web.json_response({"global": state.global_mode, "subscribers": subs, "modes": list(MODES)})


async def delete_mode(request: web.Request) -> web.Response:
    """Everyone back to ``happy``."""
    state = request.app[STATE_KEY]
    state.global_mode = "happy"
    state.subscriber_modes.clear()
    return await get_mode(request)


async def get_triggers(request: web.Request) -> web.Response:
    """Running triggered reports and push counters."""
    mgr = request.app[TRIGGERS_KEY]
    body: dict[str, Any] = {
        "triggers": [t.describe() for t in mgr.triggers.values()],
        "pushed": mgr.pusher.sent,
        "push_failures": mgr.pusher.failed,
    }
    return web.json_response(body)


def setup_control_routes(app: web.Application) -> None:
    """Register ``/sim/...``."""
    app.router.add_get("/sim/health", health)
    app.router.add_put("/sim/subscribers/{msisdn}/position", put_position)
    app.router.add_get("/sim/subscribers/{msisdn}/position", get_position)
    app.router.add_delete("/sim/subscribers/{msisdn}/position", delete_position)
    app.router.add_get("/sim/received", get_received)
    app.router.add_delete("/sim/received", delete_received)
    app.router.add_put("/sim/mode", put_mode)
    app.router.add_get("/sim/mode", get_mode)
    app.router.add_delete("/sim/mode", delete_mode)
    app.router.add_get("/sim/triggers", get_triggers)
