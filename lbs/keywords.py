"""Built-in SMS keywords of the walking skeleton: PING (liveness) and WHERE (your own position)."""

from __future__ import annotations

from typing import Protocol

from lbs.messaging.router import Command, Handler, KeywordRouter, Mo


class PositionLike(Protocol):
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def accuracy_m(self) -> float: ...


class Locator(Protocol):
    async def locate(self, msisdn: str, *, requestor: str | None = None) -> PositionLike: ...


def format_position(pos: PositionLike) -> str:
    """``You are near 50.84670, 4.35250 (within 120 m).`` — metres under 1 km, else km with one decimal."""
    acc = round(pos.accuracy_m)
    accuracy = f"{acc} m" if acc < 1000 else f"{acc / 1000:.1f} km"
    return f"You are near {pos.lat:.5f}, {pos.lon:.5f} (within {accuracy})."


async def ping(mo: Mo, command: Command) -> str:
    return "PONG"


def where_handler(locator: Locator) -> Handler:
    """WHERE: locate the sender for the sender. Asking for one's own position is itself the consent."""

    async def where(mo: Mo, command: Command) -> str:
        try:
            pos = await locator.locate(mo.source, requestor=mo.source)
        except Exception as exc:  # any location failure becomes an apology, never a silent drop
            reason = getattr(exc, "message", None) or type(exc).__name__
            return f"Sorry, we could not locate you right now ({reason}). Please try again later."
        return format_position(pos)

    return where


def register_builtin(router: KeywordRouter, locator: Locator) -> None:
    """Add PING and WHERE (with French and Dutch aliases) to ``router``."""
    router.add("PING", ping, help="liveness check")
    router.add("WHERE", where_handler(locator), help="your position", aliases={"OU": "fr", "WAAR": "nl"})
