"""DNS for tests of outbound callbacks: names resolve from a dict, so no query ever leaves the machine."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

PUBLIC = "93.184.216.34"  # a public address; tests never connect to it (see tests/security/test_ssrf.py)


class StubResolver(AbstractResolver):
    """DNS from a dict; the answers may change between calls (rebinding). Unknown names do not resolve."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"test DNS: no such name {host}")
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in self.answers[host]
        ]

    async def close(self) -> None:
        pass
