"""The platform's push endpoint: the LES POSTs ``slirep`` and ``tlrep`` documents here.

``setup_push_routes(app, receiver)`` adds ``POST {path}`` (default ``/mlp/push``). Each document is parsed with the
hardened parser, turned into :class:`PositionReport` values handed to ``on_reports`` in one batch, and each
report is also emitted as a :class:`LocationEvent`. A usable document is acknowledged with HTTP 200; an unusable
one gets HTTP 400 with an MLP ``gem`` (105 FORMAT ERROR), so the LES knows it was not taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from lbs.clock import Clock, system_clock
from lbs.mlp.codes import ResultCode
from lbs.mlp.events import EventSink, LocationEvent
from lbs.mlp.models import PositionReport
from lbs.mlp.wire import WireError, parse_answer, reports_from
from lbs.settings import Settings

ReportsHandler = Callable[[list[PositionReport]], Awaitable[None]]
PUSH_PATH = "/mlp/push"
PUSH_RECEIVER_KEY: web.AppKey[PushReceiver] = web.AppKey("mlp_push_receiver")


class PushReceiver:
    """Parses pushed reports and hands them on; counts what it took and what it refused."""

    def __init__(
        self,
        settings: Settings,
        on_reports: ReportsHandler | None = None,
        events: EventSink | None = None,
        clock: Clock = system_clock,
    ):
        self.settings = settings
        self.clock = clock
        self.on_reports = on_reports
        self.events = events
        self.documents = 0
        self.reports = 0
        self.rejected = 0

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /mlp/push``."""
        body = await request.content.read(self.settings.mlp_max_push_bytes + 1)
        try:
            answer = parse_answer(
                body, coarse_from_m=self.settings.mlp_coarse_from_m, max_bytes=self.settings.mlp_max_push_bytes
            )
            if answer.service not in ("slirep", "tlrep"):
                raise WireError(f"expected slirep or tlrep, got {answer.service}")
        except WireError as exc:
            self.rejected += 1
            return _gem(str(exc))
        reports = reports_from(answer)
        self.documents += 1
        self.reports += len(reports)
        if self.on_reports is not None:
            await self.on_reports(reports)
        if self.events is not None:
            await self._emit(reports)
        return web.Response(status=200)

    async def _emit(self, reports: list[PositionReport]) -> None:
        assert self.events is not None
        now = self.clock()
        for r in reports:
            await self.events(
                LocationEvent(
                    now, "report", r.msid, None, self.settings.mlp_client_id, r.result, r.position, None, None, r.req_id
                )
            )


def _gem(reason: str) -> web.Response:
    code = ResultCode.FORMAT_ERROR
    result = f'<result resid="{int(code)}">{code.text}</result><add_info>{escape(reason)}</add_info>'
    body = f'<?xml version="1.0" encoding="UTF-8"?><svc_result ver="3.5.0"><gem ver="3.5.0">{result}</gem></svc_result>'
    return web.Response(status=400, body=body.encode(), content_type="text/xml", charset="utf-8")


def setup_push_routes(app: web.Application, receiver: PushReceiver, path: str = PUSH_PATH) -> None:
    """Add ``POST path`` to ``app`` and store the receiver under :data:`PUSH_RECEIVER_KEY`."""
    app[PUSH_RECEIVER_KEY] = receiver
    app.router.add_post(path, receiver.handle)


_XML = {"text/xml": {"schema": {"type": "string", "description": "An MLP svc_result document."}}}

# OpenAPI 3.1 path item of the push endpoint, for the platform's document (merge it when mounting the route).
PUSH_OPENAPI_PATHS: dict[str, Any] = {
    PUSH_PATH: {
        "post": {
            "operationId": "mlpPush",
            "tags": ["internal"],
            "summary": "Pushed MLP reports from the LES (slirep for asynchronous SLIR, tlrep for triggered reporting)",
            "requestBody": {"required": True, "content": _XML},
            "responses": {
                "200": {"description": "Report taken (empty body)."},
                "400": {"description": "Not a usable slirep/tlrep: an MLP gem with 105 FORMAT ERROR.", "content": _XML},
            },
        }
    }
}
