"""Pushing reports to a client's ``pushaddr``, only ever to hosts on the allow-list, with the pushaddr's id/pwd."""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)


def basic_auth(user: str, pwd: str) -> str:
    """An ``Authorization`` header value for HTTP Basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{pwd}".encode()).decode("ascii")


def push_url_allowed(url: str, allow_hosts: list[str]) -> bool:
    """Whether ``url`` is http(s) to a host named literally in ``allow_hosts`` (no DNS: names are compared)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    return host.lower() in {h.lower().strip("[]") for h in allow_hosts}


class Pusher:
    """POSTs svc_result documents to allowed push addresses; failures are counted and logged, never raised."""

    def __init__(self, session: aiohttp.ClientSession, allow_hosts: list[str], timeout_s: float) -> None:
        self._session = session
        self._allow = allow_hosts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.sent = 0
        self.failed = 0

    def allowed(self, url: str) -> bool:
        """See :func:`push_url_allowed`."""
        return push_url_allowed(url, self._allow)

    async def push(self, url: str, body: bytes, credentials: tuple[str, str] | None = None) -> bool:
        """Send one document; True when the client acknowledged it with a 2xx."""
        if not self.allowed(url):  # checked when the request came in; checked again before every send
            self.failed += 1
            return False
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if credentials:  # the pushaddr's id and pwd, presented as Basic auth (the client checks them)
            headers["Authorization"] = basic_auth(*credentials)
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=self._timeout) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("push to %s failed: %r", url, exc)
            ok = False
        self.sent += ok
        self.failed += not ok
        return ok
