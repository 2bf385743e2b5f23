"""The platform's async MLP client: locate subscribers, start and stop triggered reports.

One :class:`MlpClient` per process, built on the app's ``aiohttp.ClientSession``. Errors are typed
(:mod:`lbs.mlp.errors`); transient failures are retried a few times; a circuit breaker turns a dead LES into
immediate :class:`LesUnavailable` errors instead of piled-up requests; every location result is emitted as a
:class:`LocationEvent`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from lbs.clock import Clock, system_clock
from lbs.mlp.breaker import CircuitBreaker
from lbs.mlp.codes import TRANSIENT_CODES, ResultCode
from lbs.mlp.errors import LesProtocolError, LesTimeout, LesUnavailable, LocationError, error_for
from lbs.mlp.events import EventSink, LocationEvent
from lbs.mlp.models import Position, Qos, ReportRequest
from lbs.mlp.reqids import OpenRequests
from lbs.mlp.wire import (
    Credentials,
    PushAddr,
    ServiceAnswer,
    WireError,
    build_slir,
    build_tlrr,
    build_tlrsr,
    parse_answer,
)
from lbs.settings import Settings

_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"}


def wire_msisdn(msisdn: str) -> str:
    """MSISDNs go on the wire in international format without '+', as GMLCs expect."""
    return msisdn.strip().lstrip("+")


class MlpClient:
    """Speaks MLP to the LES at ``settings.les_url``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        events: EventSink | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Clock = system_clock,
        opened: OpenRequests | None = None,
    ) -> None:
        """``opened`` records the requests whose reports the LES will push (the push receiver accepts no other);
        without it, no pushed report of this client's requests will be accepted."""
        self._clock = clock
        self._session = session
        self.settings = settings
        self.url = settings.les_url
        self._events = events
        self.breaker = breaker or CircuitBreaker(settings.mlp_breaker_threshold, settings.mlp_breaker_reset_s)
        self._creds = Credentials(settings.mlp_client_id, settings.mlp_client_pwd, settings.mlp_serviceid or None)
        self._self_creds = Credentials(settings.mlp_self_client_id, settings.mlp_self_client_pwd)
        self._opened = opened
        self._timeout = aiohttp.ClientTimeout(total=settings.mlp_timeout_s)

    # --- public API ----------------------------------------------------------------------------------------------

    async def locate(
        self, msisdn: str, *, requestor: str | None = None, qos: Qos | None = None, service: str | None = None
    ) -> Position:
        """The subscriber's position, or a :class:`LocationError` subclass carrying the MLP result code.

        ``service`` goes out as the MLP ``serviceid``: the application on whose behalf the platform asks, which
        the LES's privacy check needs (one LES account serves every application of the platform).
        """
        results = await self.locate_many([msisdn], requestor=requestor, qos=qos, service=service)
        outcome = results[msisdn]
        if isinstance(outcome, LocationError):
            raise outcome
        return outcome

    async def locate_self(self, msisdn: str, *, qos: Qos | None = None) -> Position:
        """The position of a subscriber who asked for it themself (an MO from that number is the proof).

        Sent with the platform's self-location client, the one credential the LES lets claim requestor = target:
        the exemption from the privacy check belongs to that account, never to a field an application writes.
        """
        started = time.perf_counter()
        wire = wire_msisdn(msisdn)
        body = build_slir(self._self_creds, [wire], requestor=wire, qos=qos or Qos())
        try:
            outcome = self._slia_results(await self._exchange(body, idempotent=True), [msisdn])[msisdn]
        except LocationError as exc:
            outcome = exc
        await self._emit("slir", msisdn, msisdn, outcome, (time.perf_counter() - started) * 1000)
        if isinstance(outcome, LocationError):
            raise outcome
        return outcome

    async def locate_many(
        self,
        msisdns: Sequence[str],
        *,
        requestor: str | None = None,
        qos: Qos | None = None,
        service: str | None = None,
    ) -> dict[str, Position | LocationError]:
        """Locate several subscribers in one SLIR; each gets a position or its own error."""
        started = time.perf_counter()
        creds = self._for(service)
        body = build_slir(creds, [wire_msisdn(m) for m in msisdns], requestor=_opt(requestor), qos=qos or Qos())
        try:
            answer = await self._exchange(body, idempotent=True)
            results = self._slia_results(answer, msisdns)
        except LocationError as exc:
            results = {m: exc for m in msisdns}
        latency = (time.perf_counter() - started) * 1000
        for msisdn, outcome in results.items():
            await self._emit("slir", msisdn, requestor, outcome, latency)
        return results

    async def locate_async(
        self, msisdns: Sequence[str], *, requestor: str | None = None, qos: Qos | None = None
    ) -> str:
        """An asynchronous SLIR: returns the req_id; positions arrive later as a ``slirep`` push."""
        ref = await self._expect()
        body = build_slir(
            self._creds,
            [wire_msisdn(m) for m in msisdns],
            requestor=_opt(requestor),
            qos=qos or Qos(),
            push=self._push(ref),
        )
        req_id = self._req_id(await self._exchange(body, idempotent=False))
        if self._opened is not None:
            await self._opened.opened(req_id, ref, ttl_s=self.settings.mlp_async_req_ttl_s)
        return req_id

    async def start_reports(
        self, request: ReportRequest, *, service: str | None = None, self_location: bool = False
    ) -> str:
        """Start triggered location reporting (TLRR); returns the LES's req_id. Reports are pushed to us.

        ``self_location``: the subscriber (the request's ``requestor``) asked to be located themself; sent with the
        platform's self-location client, as in :meth:`locate_self`. Stop it with the same flag.
        """
        wire = ReportRequest(
            msisdns=tuple(wire_msisdn(m) for m in request.msisdns),
            msid_range=(wire_msisdn(request.msid_range[0]), wire_msisdn(request.msid_range[1]))
            if request.msid_range
            else None,
            interval_s=request.interval_s,
            start_time=request.start_time,
            stop_time=request.stop_time,
            duration_s=request.duration_s,
            ms_avail=request.ms_avail,
            area=request.area,
            requestor=_opt(request.requestor),
            qos=request.qos,
        )
        creds = self._self_creds if self_location else self._for(service)
        ref = await self._expect()
        tlrr = build_tlrr(creds, wire, self._push(ref))
        req_id = self._req_id(await self._exchange(tlrr, False))
        if self._opened is not None:
            await self._record_open(req_id, ref, request)
        return req_id

    async def stop_reports(self, req_id: str, *, self_location: bool = False) -> None:
        """Stop triggered reporting ``req_id`` (TLRSR), with the client that started it."""
        creds = self._self_creds if self_location else self._creds
        answer = await self._exchange(build_tlrsr(creds, req_id), idempotent=True)
        if answer.result != ResultCode.OK:
            raise error_for(answer.result, answer.add_info)
        if self._opened is not None:
            await self._opened.closed(req_id)

    # --- internals -----------------------------------------------------------------------------------------------

    async def _expect(self) -> str:
        """A fresh ref for one request's push address, recorded as expected before the request is sent (the LES may
        push before its answer reaches us)."""
        ref = secrets.token_urlsafe(16)
        if self._opened is not None:
            await self._opened.expect(ref, ttl_s=self.settings.mlp_async_req_ttl_s)
        return ref

    def _push(self, ref: str) -> PushAddr:
        """Where the LES pushes this request's reports (``mlp_push_url`` with ``ref``), and the credentials."""
        s = self.settings
        parts = urlsplit(s.mlp_push_url)
        query = urlencode([*parse_qsl(parts.query), ("ref", ref)])
        return PushAddr(urlunsplit(parts._replace(query=query)), s.mlp_push_user, s.mlp_push_pwd)

    async def _record_open(self, req_id: str, ref: str, request: ReportRequest) -> None:
        """Open until the request's end plus a grace for the last push; with no end, until it is stopped."""
        assert self._opened is not None
        await self._opened.opened(req_id, ref, ttl_s=open_for_s(request, self._clock(), self.settings))

    def _for(self, service: str | None) -> Credentials:
        return self._creds if service is None else replace(self._creds, serviceid=service)

    def _req_id(self, answer: ServiceAnswer) -> str:
        if answer.result != ResultCode.OK or not answer.req_id:
            raise error_for(
                answer.result if answer.result != ResultCode.OK else ResultCode.SYSTEM_FAILURE,
                answer.add_info or "no req_id in answer",
            )
        return answer.req_id

    def _slia_results(self, answer: ServiceAnswer, msisdns: Sequence[str]) -> dict[str, Position | LocationError]:
        if answer.service not in ("slia", "gem"):
            raise LesProtocolError(f"expected slia, got {answer.service}", result_code=ResultCode.SYSTEM_FAILURE)
        if answer.result != ResultCode.OK or not answer.positions:
            code = answer.result if answer.result != ResultCode.OK else ResultCode.SYSTEM_FAILURE
            raise error_for(code, answer.add_info or "answer without positions")
        by_wire = {p.msid.lstrip("+"): p for p in answer.positions}
        if len(msisdns) == 1 and len(answer.positions) == 1:  # a real GMLC may echo the number in another format
            by_wire = {wire_msisdn(msisdns[0]): answer.positions[0]}
        results: dict[str, Position | LocationError] = {}
        for msisdn in msisdns:
            pos = by_wire.get(wire_msisdn(msisdn))
            if pos is None:
                results[msisdn] = LesProtocolError(f"no pos for {msisdn}", result_code=ResultCode.SYSTEM_FAILURE)
            elif pos.position is None:
                results[msisdn] = error_for(pos.result, pos.add_info, msisdn)
            else:
                results[msisdn] = pos.position
        return results

    async def _exchange(self, body: bytes, idempotent: bool) -> ServiceAnswer:
        """POST one document; retry transient failures (idempotent requests only); feed the breaker."""
        retries = self.settings.mlp_retries if idempotent else 0
        delay = self.settings.mlp_retry_backoff_s
        for attempt in range(retries + 1):
            if not self.breaker.allow():
                raise LesUnavailable("LES circuit breaker open", result_code=ResultCode.SYSTEM_FAILURE)
            try:
                answer = await self._post(body)
            except LocationError:
                self.breaker.failure()
                if attempt == retries:
                    raise
            else:
                self.breaker.success()
                if answer.result not in TRANSIENT_CODES or attempt == retries:
                    return answer
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, body: bytes) -> ServiceAnswer:
        try:
            async with self._session.post(self.url, data=body, headers=_HEADERS, timeout=self._timeout) as resp:
                raw = await resp.read()
        except TimeoutError:
            raise LesTimeout("LES did not answer in time", result_code=ResultCode.TIMEOUT) from None
        except aiohttp.ClientError as exc:
            raise LesUnavailable(f"LES unreachable: {exc!r}", result_code=ResultCode.SYSTEM_FAILURE) from None
        try:
            return parse_answer(
                raw, coarse_from_m=self.settings.mlp_coarse_from_m, max_bytes=self.settings.mlp_max_push_bytes
            )
        except WireError as exc:
            raise LesProtocolError(
                f"unusable LES answer (HTTP {resp.status}): {exc}", result_code=ResultCode.FORMAT_ERROR
            ) from None

    async def _emit(
        self, kind: str, msisdn: str, requestor: str | None, outcome: Position | LocationError, latency_ms: float
    ) -> None:
        if self._events is None:
            return
        now, app = self._clock(), self._creds.client_id
        if isinstance(outcome, Position):
            event = LocationEvent(now, kind, msisdn, requestor, app, ResultCode.OK, outcome, latency_ms)
        else:
            event = LocationEvent(
                now, kind, msisdn, requestor, app, outcome.result_code, None, latency_ms, outcome.message
            )
        await self._events(event)


def open_for_s(request: ReportRequest, now: datetime, settings: Settings) -> float | None:
    """How long the push receiver should accept reports of ``request`` (seconds from ``now``, the clock the request's
    times are written in), or None while it has no end: its end plus ``mlp_async_req_ttl_s`` for the last push."""
    grace = timedelta(seconds=settings.mlp_async_req_ttl_s)
    started = request.start_time or now
    ends = [t + grace for t in (request.stop_time,) if t is not None]
    if request.duration_s is not None:
        ends.append(started + timedelta(seconds=request.duration_s) + grace)
    return max(1.0, (min(ends) - now).total_seconds()) if ends else None


def _opt(requestor: str | None) -> str | None:
    return wire_msisdn(requestor) if requestor else None
