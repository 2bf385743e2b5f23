"""The MLP endpoint: ``POST /mlp`` (and ``POST /``). Every answer is an MLP svc_result, never a stack trace."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from les_simulator.les import render
from les_simulator.les.codes import ResultCode
from les_simulator.les.coords import CoordFormat, format_time
from les_simulator.les.keys import CLOCK_KEY, SERVICE_KEY, SETTINGS_KEY, STATE_KEY, TRIGGERS_KEY
from les_simulator.les.protocol import SUPPORTED_VERSIONS, LocationRequest, MlpFault, StopRequest, read_request
from les_simulator.les.service import Ask
from les_simulator.les.state import REQUEST_MODES
from les_simulator.les.xmlsafe import XmlRejected, parse_xml

log = logging.getLogger(__name__)
XML_TYPE = "text/xml"
_ANSWERS = {"slir": "slia", "tlrr": "tlra", "tlrsr": "tlrsa"}
_PIECE = 65_536  # bytes asked of the socket per read


def _xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=XML_TYPE, charset="utf-8")


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many pieces it arrives in (one read gives only what has arrived so far)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise MlpFault(ResultCode.FORMAT_ERROR, f"request larger than {limit} bytes")
    pieces, size = [], 0
    while piece := await request.content.read(_PIECE):
        size += len(piece)
        if size > limit:
            raise MlpFault(ResultCode.FORMAT_ERROR, f"request larger than {limit} bytes")
        pieces.append(piece)
    return b"".join(pieces)


async def mlp_endpoint(request: web.Request) -> web.StreamResponse:
    """Parse one svc_init and answer it; faults become error results in the right answer element."""
    settings = request.app[SETTINGS_KEY]
    ver = "3.5.0"
    try:
        body = await _read_body(request, settings.les_max_body_bytes)
        root = parse_xml(body, max_bytes=settings.les_max_body_bytes, max_depth=settings.les_max_xml_depth)
        asked = root.get("ver") or "3.0.0"
        ver = asked if asked in SUPPORTED_VERSIONS else ver  # never echo an unchecked string into the answer
        parsed = read_request(root, max_msids=settings.les_max_msids)
        return await _dispatch(request, parsed)
    except XmlRejected as exc:
        return _xml(render.error(ver, "gem", ResultCode.FORMAT_ERROR, exc.reason))
    except MlpFault as fault:
        return _xml(render.error(ver, fault.service, fault.code, fault.add_info))


async def _dispatch(request: web.Request, parsed: LocationRequest | StopRequest) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    answer = _ANSWERS["tlrsr" if isinstance(parsed, StopRequest) else parsed.service]
    service.authenticate(parsed.header, answer)
    _record(request, parsed)
    if isinstance(parsed, StopRequest):
        return _stop(request, parsed)
    _check_push(request, parsed, answer)
    special = _request_mode(request, parsed)
    if special is not None:
        return special
    if parsed.service == "tlrr" or parsed.res_type == "ASYNC":
        _check_window(request, parsed)
        req_id = request.app[TRIGGERS_KEY].start(parsed)
        return _xml(
            render.tlra(parsed.ver, req_id) if parsed.service == "tlrr" else render.slia_req_id(parsed.ver, req_id)
        )
    return await _slia(request, parsed)


def _record(request: web.Request, parsed: LocationRequest | StopRequest) -> None:
    state = request.app[STATE_KEY]
    entry: dict[str, Any] = {
        "at": request.app[CLOCK_KEY].now().isoformat(),
        "client": parsed.header.client_id,
        "requestor": parsed.header.requestor,
        "ver": parsed.ver,
    }
    if isinstance(parsed, StopRequest):
        entry.update(service="tlrsr", req_id=parsed.req_id, msisdns=[])
    else:
        entry.update(service=parsed.service, msisdns=[t.value for t in parsed.targets[:100]], count=len(parsed.targets))
        entry.update(loc_type=parsed.loc_type, hor_acc=parsed.hor_acc, prio=parsed.prio)
    state.record(entry)


def _check_push(request: web.Request, parsed: LocationRequest, answer: str) -> None:
    needs_push = parsed.service == "tlrr" or parsed.res_type == "ASYNC"
    if needs_push and not parsed.push_url:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "asynchronous request without pushaddr", answer)
    if parsed.push_url and needs_push and not request.app[TRIGGERS_KEY].pusher.allowed(parsed.push_url):
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, "pushaddr host not allowed", answer)


def _check_window(request: web.Request, parsed: LocationRequest) -> None:
    """A reporting window that is already over, or ends before it starts, is refused (110)."""
    stop, start = parsed.stop_time, parsed.start_time
    if stop is not None and (stop <= request.app[CLOCK_KEY].now() or (start is not None and start >= stop)):
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, "stop_time", "tlra")


def _request_mode(request: web.Request, parsed: LocationRequest) -> web.StreamResponse | None:
    """Global (or any named subscriber's) request-level failure modes."""
    state = request.app[STATE_KEY]
    service = request.app[SERVICE_KEY]
    modes = {state.global_mode} | {state.mode_for(service.index_of(t)) for t in parsed.targets[:1000]}
    if "drop_connection" in modes & REQUEST_MODES:
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # the peer sees the connection closed without an answer
    if "garbage_response" in modes & REQUEST_MODES:
        return web.Response(body=b"\x00\xffnot <mlp> at all", content_type="application/octet-stream")
    answer = _ANSWERS[parsed.service]
    if state.global_mode == "congested" and parsed.prio != "HIGH":  # high priority still gets through
        return _xml(render.error(parsed.ver, answer, ResultCode.CONGESTION_IN_LOCATION_SERVER, None))
    if state.global_mode == "system_failure":
        return _xml(render.error(parsed.ver, answer, ResultCode.SYSTEM_FAILURE, None))
    return None


async def _slia(request: web.Request, parsed: LocationRequest) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    ask = Ask.of(parsed)
    if len(parsed.targets) == 1:
        outcomes = [await service.locate(parsed.targets[0], ask)]
    else:
        outcomes = list(await asyncio.gather(*(service.locate(t, ask) for t in parsed.targets)))
    now = format_time(request.app[CLOCK_KEY].now())
    return _xml(render.slia(parsed.ver, outcomes, _fmt(request), now))


def _fmt(request: web.Request) -> CoordFormat:
    return "DECIMAL" if request.app[SETTINGS_KEY].les_coord_format.upper() == "DECIMAL" else "DMS"


def _stop(request: web.Request, parsed: StopRequest) -> web.StreamResponse:
    if not request.app[TRIGGERS_KEY].stop(parsed.req_id, parsed.header.client_id):
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, f"req_id {parsed.req_id}", "tlrsa")
    return _xml(render.tlrsa(parsed.ver, parsed.req_id))
