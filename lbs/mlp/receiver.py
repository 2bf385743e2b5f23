"""The platform's push endpoint: the LES POSTs ``slirep`` and ``tlrep`` documents here.

``setup_push_routes(app, receiver)`` adds ``POST {path}`` (default ``/mlp/push``) to an app of its own, served on
its own listener (``mlp_push_host:mlp_push_port``, see :mod:`api.push`), never on the provider-facing API.

A pushed document is a claim that subscribers are somewhere; it triggers promotions, CloudEvents and bills. So,
before anything is applied:

1. the LES must present the push credentials the platform gave it in each ``pushaddr`` (Basic auth), else 401;
2. the whole body is read, however it arrives, up to ``mlp_max_push_bytes`` (413 beyond);
3. it must parse with the hardened parser as a ``slirep``/``tlrep`` answering a request the platform opened (the
   push address's ``ref`` and the document's ``req_id``, :mod:`lbs.mlp.reqids`), every subscriber a valid MSISDN
   (or IMSI), no position dated later than now + ``mlp_push_max_skew_s``.

Any failure refuses the whole document (HTTP 400 with an MLP ``gem``); a good one is handed to ``on_reports`` in
one batch (which applies it whole or not at all), and only then acknowledged with HTTP 200.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from lbs.clock import Clock, system_clock
from lbs.mlp.codes import ResultCode
from lbs.mlp.events import EventSink, LocationEvent
from lbs.mlp.models import PositionReport
from lbs.mlp.reqids import OpenRequests
from lbs.mlp.wire import ServiceAnswer, WireError, parse_answer, reports_from
from lbs.settings import Settings

ReportsHandler = Callable[[list[PositionReport]], Awaitable[None]]
PUSH_PATH = "/mlp/push"
PUSH_RECEIVER_KEY: web.AppKey[PushReceiver] = web.AppKey("mlp_push_receiver")
# Read the body in pieces of this size: a piece is what one socket read may bring, the document is their sum.
_PIECE = 65_536


class PushRefused(Exception):
    """A pushed document the platform does not take: ``status`` and an MLP ``code`` for the gem."""

    def __init__(self, status: int, code: ResultCode, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


class PushReceiver:
    """Authenticates, reads, checks and hands on pushed reports; counts what it took and what it refused."""

    def __init__(
        self,
        settings: Settings,
        on_reports: ReportsHandler | None = None,
        events: EventSink | None = None,
        *,
        opened: OpenRequests,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.on_reports = on_reports
        self.events = events
        self.opened = opened
        self.clock = clock
        self.documents = 0
        self.reports = 0
        self.rejected = 0
        self.unauthenticated = 0

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /mlp/push``."""
        if not self._authenticated(request):
            self.unauthenticated += 1
            refusal = PushRefused(401, ResultCode.UNAUTHORIZED_APPLICATION, "push credentials required")
            return _gem(refusal, {"WWW-Authenticate": 'Basic realm="mlp-push", charset="UTF-8"'})
        try:
            body = await read_body(request, self.settings.mlp_max_push_bytes)
            reports = await self.check(body, request.query.get("ref"))
        except PushRefused as refusal:
            self.rejected += 1
            return _gem(refusal)
        if self.on_reports is not None:
            await self.on_reports(reports)
        self.documents += 1
        self.reports += len(reports)
        if self.events is not None:
            await self._emit(reports)
        return web.Response(status=200)

    def _authenticated(self, request: web.Request) -> bool:
        """Basic auth with the push user and password, compared in constant time."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, pwd = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), self.settings.mlp_push_user.encode())
        ok_pwd = hmac.compare_digest(pwd.encode(), self.settings.mlp_push_pwd.encode())
        return bool(sep) and ok_user and ok_pwd and bool(self.settings.mlp_push_pwd)

    async def check(self, body: bytes, ref: str | None) -> list[PositionReport]:
        """The document's reports, every one checked, or :class:`PushRefused` for the whole document. ``ref`` is the
        push address's ``ref`` query parameter: the request the platform opened (:mod:`lbs.mlp.reqids`)."""
        settings = self.settings
        try:
            answer = parse_answer(body, coarse_from_m=settings.mlp_coarse_from_m, max_bytes=settings.mlp_max_push_bytes)
        except WireError as exc:
            raise PushRefused(400, ResultCode.FORMAT_ERROR, str(exc)) from None
        if answer.service not in ("slirep", "tlrep"):
            raise PushRefused(400, ResultCode.FORMAT_ERROR, f"expected slirep or tlrep, got {answer.service}")
        if not answer.req_id or not await self.opened.accepts(answer.req_id, ref):
            reason = f"req_id {answer.req_id!r} does not answer a request this platform opened"
            raise PushRefused(400, ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, reason)
        return checked_reports(answer, self.clock() + timedelta(seconds=settings.mlp_push_max_skew_s))

    async def _emit(self, reports: list[PositionReport]) -> None:
        assert self.events is not None
        now = self.clock()
        for r in reports:
            await self.events(
                LocationEvent(
                    now, "report", r.msid, None, self.settings.mlp_client_id, r.result, r.position, None, None, r.req_id
                )
            )


def checked_reports(answer: ServiceAnswer, latest: datetime) -> list[PositionReport]:
    """The reports of ``answer`` with E.164 MSISDNs (IMSIs as written), or :class:`PushRefused` if any is unusable
    (pure: ``latest`` is the latest position time taken, now plus the allowed skew)."""
    reports = []
    for pos, report in zip(answer.positions, reports_from(answer), strict=True):
        msid = _msisdn(report.msid) if pos.msid_type == "MSISDN" else _imsi(report.msid, pos.msid_type)
        if msid is None:
            raise PushRefused(400, ResultCode.FORMAT_ERROR, f"msid {report.msid[:32]!r} is not a valid {pos.msid_type}")
        if report.position is not None and report.position.timestamp > latest:
            raise PushRefused(400, ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, f"position of {msid} in the future")
        reports.append(replace(report, msid=msid))
    return reports


def _msisdn(msid: str) -> str | None:
    """An MSISDN in international format, as the platform sent it (digits, '+' optional), made E.164; None else."""
    digits = msid.removeprefix("+")
    ok = 7 <= len(digits) <= 15 and digits.isascii() and digits.isdigit() and not digits.startswith("0")
    return f"+{digits}" if ok else None


def _imsi(msid: str, msid_type: str) -> str | None:
    """An IMSI (kept as written: 6 to 15 ASCII digits); no other identity type is taken."""
    ok = msid_type == "IMSI" and 6 <= len(msid) <= 15 and msid.isascii() and msid.isdigit()
    return msid if ok else None


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, however many pieces it arrives in, or :class:`PushRefused` (413) beyond ``limit``."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PushRefused(413, ResultCode.FORMAT_ERROR, f"document larger than {limit} bytes")
    pieces, size = [], 0
    while piece := await request.content.read(_PIECE):
        size += len(piece)
        if size > limit:
            raise PushRefused(413, ResultCode.FORMAT_ERROR, f"document larger than {limit} bytes")
        pieces.append(piece)
    return b"".join(pieces)


def _gem(refusal: PushRefused, headers: dict[str, str] | None = None) -> web.Response:
    code = refusal.code
    result = f'<result resid="{int(code)}">{code.text}</result><add_info>{escape(refusal.reason)}</add_info>'
    body = f'<?xml version="1.0" encoding="UTF-8"?><svc_result ver="3.5.0"><gem ver="3.5.0">{result}</gem></svc_result>'
    return web.Response(
        status=refusal.status, body=body.encode(), content_type="text/xml", charset="utf-8", headers=headers
    )


def setup_push_routes(app: web.Application, receiver: PushReceiver, path: str = PUSH_PATH) -> None:
    """Add ``POST path`` to ``app`` and store the receiver under :data:`PUSH_RECEIVER_KEY`."""
    app[PUSH_RECEIVER_KEY] = receiver
    app.router.add_post(path, receiver.handle)


def push_app(settings: Settings, receiver: PushReceiver) -> web.Application:
    """An app serving only the push endpoint (for its own listener); its body cap is the push cap."""
    app = web.Application(client_max_size=settings.mlp_max_push_bytes)
    setup_push_routes(app, receiver)
    return app


_XML = {"text/xml": {"schema": {"type": "string", "description": "An MLP svc_result document."}}}

# OpenAPI 3.1 path item of the push endpoint, for a document of the push listener (not the provider-facing API's).
PUSH_OPENAPI_PATHS: dict[str, Any] = {
    PUSH_PATH: {
        "post": {
            "operationId": "mlpPush",
            "tags": ["internal"],
            "summary": "Pushed MLP reports from the LES (slirep for asynchronous SLIR, tlrep for triggered reporting)",
            "requestBody": {"required": True, "content": _XML},
            "responses": {
                "200": {"description": "Report taken whole (empty body)."},
                "400": {
                    "description": "Not a usable slirep/tlrep (format, req_id not opened by the platform, a bad msid, "
                    "a position in the future): an MLP gem; nothing of it was applied.",
                    "content": _XML,
                },
                "401": {"description": "No or wrong push credentials: an MLP gem; nothing applied.", "content": _XML},
                "413": {"description": "Larger than mlp_max_push_bytes: an MLP gem.", "content": _XML},
            },
        }
    }
}
