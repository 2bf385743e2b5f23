"""Answering location requests for one subscriber at a time: the LES's core rules.

Order for each subscriber, as a real LES would do it: is it ours -> may this client see it (privacy, before
anything about the handset leaks: the self-location exemption for the platform's own self-location account, else
the privacy checker) -> is the handset reachable -> can the requested quality be met -> measure.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from les_simulator.les.clock import Clock
from les_simulator.les.codes import ResultCode
from les_simulator.les.population import Population
from les_simulator.les.positioning import CELL, Fix, Method, QopError, choose_method, coarsen, measure
from les_simulator.les.privacy import (
    PrivacyChecker,
    PrivacyDecision,
    PrivacyQuery,
    PrivacyUnavailable,
    same_subscriber,
)
from les_simulator.les.protocol import SUPPORTED_MSID_TYPES, Header, LocationRequest, MlpFault, Target
from les_simulator.les.render import PosOutcome
from les_simulator.les.state import LesState
from les_simulator.settings import LesSettings

_MODE_CODES = {
    "absent": ResultCode.ABSENT_SUBSCRIBER,
    "unknown_subscriber": ResultCode.UNKNOWN_SUBSCRIBER,
    "position_method_failure": ResultCode.POSITION_METHOD_FAILURE,
    "system_failure": ResultCode.SYSTEM_FAILURE,
    "congested": ResultCode.CONGESTION_IN_MOBILE_NETWORK,
}


@dataclass(frozen=True, slots=True)
class Ask:
    """The parts of a request that matter for one subscriber's answer."""

    header: Header
    hor_acc: float | None = None
    max_loc_age: float | None = None
    resp_timer: float | None = None
    resp_req: str | None = None
    loc_type: str = "CURRENT"
    purpose: str = "active"
    prio: str = "NORMAL"

    @classmethod
    def of(cls, req: LocationRequest) -> Ask:
        """The per-subscriber view of ``req``."""
        purpose = "active" if req.service == "slir" else "passive"
        return cls(
            req.header, req.hor_acc, req.max_loc_age, req.resp_timer, req.resp_req, req.loc_type, purpose, req.prio
        )


class _Refusal(Exception):
    def __init__(self, code: ResultCode, add_info: str | None = None) -> None:
        super().__init__(add_info)
        self.code = code
        self.add_info = add_info


class LocationService:
    """The population, its state and the privacy checker, answering one subscriber at a time."""

    def __init__(
        self, settings: LesSettings, population: Population, state: LesState, clock: Clock, privacy: PrivacyChecker
    ) -> None:
        self.settings = settings
        self.population = population
        self.state = state
        self.clock = clock
        self.privacy = privacy

    def authenticate(self, header: Header, answer: str) -> None:
        """Check the client id/password against the registered applications (3 UNAUTHORIZED APPLICATION)."""
        expected = self.settings.les_clients.get(header.client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), header.pwd.encode()):
            raise MlpFault(ResultCode.UNAUTHORIZED_APPLICATION, f"client {header.client_id!r}", answer)

    def index_of(self, target: Target) -> int | None:
        """The population index of ``target`` (MSISDN or IMSI), or None when unknown."""
        if target.type == "IMSI":
            return self.population.index_of_imsi(target.value)
        return self.population.index_of_msisdn(target.value)

    async def locate(self, target: Target, ask: Ask, trigger: str | None = None) -> PosOutcome:
        """One subscriber's pos: a fix or the error code that explains why not."""
        try:
            fix = await self._locate(target, ask)
        except _Refusal as refusal:
            return PosOutcome(target.value, target.type, None, refusal.code, refusal.add_info, trigger)
        return PosOutcome(target.value, target.type, fix, trigger=trigger)

    async def _locate(self, target: Target, ask: Ask) -> Fix:
        if target.type not in SUPPORTED_MSID_TYPES or target.enc != "ASC":
            raise _Refusal(ResultCode.PROTOCOL_ELEMENT_ATTRIBUTE_VALUE_NOT_SUPPORTED, f"msid type {target.type}")
        index = self.index_of(target)
        mode = self.state.mode_for(index)
        if mode == "congested" and ask.prio == "HIGH" and index not in self.state.subscriber_modes:
            mode = "happy"  # server-wide congestion: high-priority requests are still served
        if index is None or mode == "unknown_subscriber":
            raise _Refusal(ResultCode.UNKNOWN_SUBSCRIBER)
        decision = await self._privacy(index, ask)
        await self._apply_mode(mode, ask)
        fix = await self._position(index, ask)
        return coarsen(fix, self.settings.les_coarse_h3_res) if decision.precision == "coarse" else fix

    def may_claim_self(self, ask: Ask) -> bool:
        """Whether this client may claim that the subscriber asks about themself: the exemption from the privacy
        check belongs to an authenticated account (``les_self_location_clients``, the platform's own), never to
        the requestor field a client writes."""
        return ask.header.client_id in self.settings.les_self_location_clients

    async def _privacy(self, index: int, ask: Ask) -> PrivacyDecision:
        msisdn, requestor = self.population.msisdn(index), ask.header.requestor
        if same_subscriber(requestor, msisdn):
            if self.may_claim_self(ask):
                return PrivacyDecision(True, "exact", "self_location")
            requestor = None  # an unverified claim of self is not passed on: the checker decides on grants alone
        query = PrivacyQuery(msisdn, ask.header.client_id, requestor, ask.header.serviceid, ask.purpose)
        try:
            decision = await self.privacy.check(query)
        except PrivacyUnavailable as exc:
            raise _Refusal(ResultCode.SYSTEM_FAILURE, f"privacy check unavailable: {exc}") from None
        if not decision.allowed:
            raise _Refusal(ResultCode.POSITIONING_NOT_ALLOWED, decision.reason or None)
        return decision

    async def _apply_mode(self, mode: str, ask: Ask) -> None:
        if mode == "slow":
            delay = self.settings.les_slow_delay_s
            if ask.resp_timer is not None and ask.resp_timer < delay:
                await asyncio.sleep(ask.resp_timer)
                raise _Refusal(ResultCode.TIMEOUT, f"no answer within resp_timer {ask.resp_timer:g} s")
            await asyncio.sleep(delay)
        elif mode in _MODE_CODES:
            raise _Refusal(_MODE_CODES[mode])

    async def _position(self, index: int, ask: Ask) -> Fix:
        now = self.clock.now()
        absent = index not in self.state.overrides and self.population.is_absent(
            index, now, self.settings.les_absent_share
        )
        if ask.loc_type == "LAST" or (ask.loc_type == "CURRENT_OR_LAST" and absent):
            return self._last(index, now, ask)
        if absent:
            raise _Refusal(ResultCode.ABSENT_SUBSCRIBER)
        cached = self._recent(index, now, ask)
        if cached is not None:
            return cached  # recent and good enough: no new positioning attempt
        try:
            method = CELL if ask.loc_type == "INITIAL" else choose_method(ask.hor_acc, ask.resp_timer, ask.resp_req)
        except QopError as exc:
            raise _Refusal(exc.code, exc.add_info) from None
        return await self._measure(index, now, method, ask.hor_acc)

    def _recent(self, index: int, now: datetime, ask: Ask) -> Fix | None:
        cached = self.state.last_fix.get(index)
        if cached is None or ask.max_loc_age is None or (now - cached.time).total_seconds() > ask.max_loc_age:
            return None
        return cached if ask.hor_acc is None or cached.accuracy_m <= ask.hor_acc else None

    async def _measure(self, index: int, now: datetime, method: Method, hor_acc: float | None) -> Fix:
        delay = method.latency_s * self.settings.les_latency_scale
        if delay > 0:
            await asyncio.sleep(delay)
        fix = measure(self.population.seed, index, self.true_position(index, now), now, method, hor_acc)
        self.state.last_fix[index] = fix
        return fix

    def true_position(self, index: int, at: datetime) -> tuple[float, float]:
        """Where the subscriber really is: a position set through the control API, else the mobility model."""
        return self.state.overrides.get(index) or self.population.true_position(index, at)

    def _last(self, index: int, now: datetime, ask: Ask) -> Fix:
        fix = self.state.last_fix.get(index)
        if fix is None:  # the network's last contact: a cell-level fix some minutes ago
            seen = now - timedelta(minutes=5 + index % 25)
            fix = measure(self.population.seed, index, self.true_position(index, seen), seen, CELL, None)
        age = (now - fix.time).total_seconds()
        if ask.max_loc_age is not None and age > ask.max_loc_age:
            raise _Refusal(
                ResultCode.QOP_NOT_ATTAINABLE, f"max_loc_age {ask.max_loc_age:g} s; last fix {age:.0f} s old"
            )
        return fix
