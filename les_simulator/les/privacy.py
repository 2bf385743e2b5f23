"""The LES's privacy checker: asked before every disclosure, like a real LES's privacy profile register.

Default: the platform's consent registry over HTTP (``POST /v1/privacy/check`` with the internal bearer key).
Standalone: a local table. Self-location is not theirs to decide: the LES grants it before asking them, and only to
the clients allowed to claim it (:meth:`les_simulator.les.service.LocationService.may_claim_self`); a requestor that
names the target from any other client is not passed on, so no checker can take it for self-location.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp

from les_simulator.errors import SimError
from les_simulator.msisdn import to_e164
from les_simulator.settings import LesSettings

PrecisionName = Literal["exact", "coarse"]


@dataclass(frozen=True, slots=True)
class PrivacyQuery:
    """Who wants to locate whom: the located MSISDN (E.164), the MLP client, its requestor and service."""

    msisdn: str
    application: str
    requestor: str | None = None
    service_id: str | None = None
    purpose: str = "active"


@dataclass(frozen=True, slots=True)
class PrivacyDecision:
    """Allow (with a precision) or deny, and why."""

    allowed: bool
    precision: PrecisionName = "exact"
    reason: str = ""


class PrivacyUnavailable(Exception):
    """The privacy checker could not answer: the LES fails closed (SYSTEM FAILURE, nothing disclosed)."""


class PrivacyChecker(Protocol):
    """Anything that decides whether a position may be disclosed."""

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        """Decide for ``query``; raise :class:`PrivacyUnavailable` when no decision can be made."""
        ...


def same_subscriber(a: str | None, b: str) -> bool:
    """Whether two subscriber numbers (any format) are the same MSISDN."""
    if not a:
        return False
    da, db = a.strip().lstrip("+"), b.strip().lstrip("+")
    if da.isdigit() and db.isdigit() and not da.startswith("0") and not db.startswith("0"):
        return da == db  # both international already: no need for the (slow) full parse
    try:
        return to_e164(a) == to_e164(b)
    except SimError:
        return False


class LocalPrivacyChecker:
    """A fixed table of (msisdn, application) -> precision."""

    def __init__(self, grants: dict[tuple[str, str], PrecisionName] | None = None) -> None:
        self.grants: dict[tuple[str, str], PrecisionName] = dict(grants or {})

    @classmethod
    def from_settings(cls, settings: LesSettings) -> LocalPrivacyChecker:
        """The table from ``privacy_test_grants``."""
        grants: dict[tuple[str, str], PrecisionName] = {}
        for msisdn, app, precision in settings.privacy_test_grants:
            grants[(to_e164(msisdn), app)] = "coarse" if precision == "coarse" else "exact"
        return cls(grants)

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        """The table; deny otherwise."""
        precision = self.grants.get((query.msisdn, query.application))
        if precision is None:
            return PrivacyDecision(False, reason="no_grant")
        return PrivacyDecision(True, precision, "local_table")


class HttpPrivacyChecker:
    """Asks the platform's ``/v1/privacy/check``; any failure to get a clear answer raises PrivacyUnavailable."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str, timeout_s: float) -> None:
        self._session = session
        self._url = url
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        """POST the query; parse ``{"allowed", "precision", "reason"}``."""
        body = {
            "msisdn": query.msisdn,
            "application": query.application,
            "requestor": query.requestor,
            "service_id": query.service_id,
            "purpose": query.purpose,
        }
        try:
            async with self._session.post(self._url, json=body, headers=self._headers, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise PrivacyUnavailable(f"privacy check answered HTTP {resp.status}")
                data = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PrivacyUnavailable(f"privacy check failed: {exc!r}") from exc
        return _decision(data)


def _decision(data: object) -> PrivacyDecision:
    if not isinstance(data, dict) or not isinstance(data.get("allowed"), bool):
        raise PrivacyUnavailable("privacy check answered an unexpected body")
    precision: PrecisionName = "coarse" if data.get("precision") == "coarse" else "exact"
    return PrivacyDecision(data["allowed"], precision, str(data.get("reason", "")))


class CachingPrivacyChecker:
    """Reuses another checker's decisions for ``ttl_s`` seconds, as a real LES caches privacy profiles.

    Only decisions are cached, never failures; a refusal or a revocation at the platform takes effect within
    ``ttl_s``. Without it, triggered reports for 100,000 subscribers would cost 100,000 HTTP checks per period.
    """

    def __init__(self, inner: PrivacyChecker, ttl_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._ttl = ttl_s
        self._now = now
        self._cache: dict[PrivacyQuery, tuple[float, PrivacyDecision]] = {}

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        """The cached decision while fresh, else the inner checker's (then cached)."""
        now = self._now()
        hit = self._cache.get(query)
        if hit is not None and hit[0] > now:
            return hit[1]
        decision = await self._inner.check(query)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[query] = (now + self._ttl, decision)
        return decision


_CACHE_MAX = 1_000_000
