"""Outbound HTTP to addresses that users give us (CAMARA sinks, and every callback to come): never inside.

A callback URL is a request the platform makes on a stranger's behalf from inside the operator's network, so:

- at creation, :func:`check_url` takes only ``https`` URLs whose host is a DNS name or a public address in its
  canonical form (``0x7f.1``, ``2130706433``, ``[::ffff:127.0.0.1]`` and friends are refused, not interpreted), and
  :func:`check_resolves` refuses a name that resolves to a non-public address;
- at connect time, :class:`GuardedConnector` checks every address the connection would use, after DNS, so a name
  that resolved to a public address at creation and to ``127.0.0.1`` now (DNS rebinding) is refused before any
  socket is opened;
- :func:`post` never follows redirects (a 3xx is a failed delivery), and its failures say only ``refused``,
  ``unreachable`` or ``HTTP <status>``: a stored error must not tell an open port from a closed one.

Non-public means anything but global unicast: loopback, private (RFC 1918), shared (100.64/10), link-local
(169.254/16 with the cloud metadata address, fe80::/10), unique-local (fc00::/7), multicast, reserved,
unspecified, and IPv6 forms that embed IPv4 (mapped, compatible, 6to4, Teredo, NAT64) judged by what they embed.
``Policy.allow_loopback`` (the explicit dev-mode setting ``geofence_camara_loopback_http``, for tests and the demo)
lets ``http`` and loopback addresses through; nothing else ever does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from lbs.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: inside an operator, exactly what to keep out
REFUSED = "refused: not a public address"
UNREACHABLE = "unreachable"


class OutboundRefused(aiohttp.ClientConnectionError):
    """The destination is not a public address (raised before any socket is opened)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What outbound requests may reach: public addresses, and loopback only in dev mode."""

    allow_loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(allow_loopback=settings.geofence_camara_loopback_http)


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def allowed(ip: IPAddress, policy: Policy) -> bool:
    """Whether an outbound connection may go to ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded(ip)
        if inner is not None:
            return allowed(inner, policy)
    if ip.is_loopback:
        return policy.allow_loopback
    if ip in SHARED:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, or None for a DNS name; ValueError for odd numeric forms.

    ``socket.inet_aton`` reads ``0x7f.1``, ``017700000001``, ``127.1`` and ``2130706433`` as 127.0.0.1; such hosts
    are refused rather than interpreted, whatever they mean.
    """
    bare = host.strip("[]")
    try:
        ip = ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv4Address) and str(ip) != bare:
            raise ValueError(f"{host!r} is not a canonical IPv4 address")
        return ip
    try:
        socket.inet_aton(bare)
    except OSError:
        if bare.replace(".", "").isdigit() or bare.lower().startswith("0x"):
            raise ValueError(f"{host!r} is a numeric host in no standard form") from None
        return None
    raise ValueError(f"{host!r} is an IPv4 address in a non-canonical form")


def check_url(url: str, policy: Policy) -> str:
    """``url`` when the platform may POST to it (creation-time rules); ValueError saying why not."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from exc
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError("needs a host and no user:password@")
    ip = literal_address(host)
    loopback_name = host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost")
    loopback = loopback_name or (ip is not None and allowed(ip, Policy(allow_loopback=True)) and ip.is_loopback)
    if parts.scheme != "https" and not (parts.scheme == "http" and policy.allow_loopback and loopback):
        raise ValueError("must be an https URL")
    if port == 0:
        raise ValueError("port 0 is not a port")
    if (ip is not None and not allowed(ip, policy)) or (loopback_name and not policy.allow_loopback):
        raise ValueError(f"{host} is not a public address")
    return url


def _addresses(results: Sequence[ResolveResult]) -> list[IPAddress]:
    return [ipaddress.ip_address(str(r["host"]).split("%", 1)[0]) for r in results]


def check_addresses(host: str, results: Sequence[ResolveResult], policy: Policy) -> None:
    """Refuse a destination when any of its addresses is not allowed (one bad answer spoils the name)."""
    if not results:
        raise OutboundRefused(f"{host}: no address")
    bad = [ip for ip in _addresses(results) if not allowed(ip, policy)]
    if bad:
        raise OutboundRefused(f"{host}: {REFUSED}")


async def check_resolves(url: str, policy: Policy, resolver: AbstractResolver) -> None:
    """Creation time: the URL's host resolves, and only to allowed addresses (ValueError otherwise)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if literal_address(host) is not None:
        return
    try:
        results = await resolver.resolve(host, parts.port or 443, family=socket.AF_UNSPEC)
    except OSError as exc:
        raise ValueError(f"{host} does not resolve") from exc
    try:
        check_addresses(host, results, policy)
    except OutboundRefused as exc:
        raise ValueError(f"{host} is not a public address") from exc


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector that refuses, at connect time and after DNS, every address :func:`allowed` refuses."""

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[ResolveResult]:
        # The one place we reach into aiohttp: every connection's addresses pass here, literal IPs included
        # (aiohttp hands those to no resolver), after the DNS cache, right before the sockets are opened.
        results = await super()._resolve_host(host, port, traces=traces)
        check_addresses(host, results, self.policy)
        return results


def session(settings: Settings, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A client session for user-given URLs: guarded connector, no proxies from the environment, no cookies."""
    policy = Policy.from_settings(settings)
    if policy.allow_loopback:
        log.warning("outbound callbacks may reach loopback addresses (dev mode: geofence_camara_loopback_http)")
    kwargs: dict[str, Any] = {"resolver": resolver} if resolver is not None else {}
    return aiohttp.ClientSession(
        connector=GuardedConnector(policy, **kwargs), trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )


async def post(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
) -> str | None:
    """POST ``body`` to ``url`` through a :func:`session`; None on 2xx, else a reason that reveals no port state."""
    if not isinstance(client.connector, GuardedConnector):
        raise TypeError("outbound.post needs a session from outbound.session()")  # never an unguarded one
    try:
        check_url(url, client.connector.policy)
    except ValueError:
        return REFUSED
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with client.post(url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False) as r:
            return None if 200 <= r.status < 300 else f"HTTP {r.status}"
    except OutboundRefused:
        return REFUSED
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return UNREACHABLE


async def each_per_host(
    items: Sequence[T], url_of: Callable[[T], str], limit: int, send: Callable[[T], Awaitable[None]]
) -> None:
    """``send`` every item, at most ``limit`` at once per destination host (a slow host delays only its own)."""
    gates: dict[str, asyncio.Semaphore] = {}

    async def one(item: T) -> None:
        host = (urlsplit(url_of(item)).hostname or "").lower()
        gate = gates.setdefault(host, asyncio.Semaphore(limit))
        async with gate:
            await send(item)

    await asyncio.gather(*(one(item) for item in items))
