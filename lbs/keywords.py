"""Built-in SMS keywords: PING (liveness) and WHERE / OU / WAAR (your own position)."""

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


class SelfLocator(Protocol):
    async def locate_self(self, msisdn: str, request_id: str, mo_id: str) -> PositionLike: ...


def format_position(pos: PositionLike) -> str:
    """``You are near 50.84670, 4.35250 (within 120 m).`` — metres under 1 km, else km with one decimal."""
    acc = round(pos.accuracy_m)
    accuracy = f"{acc} m" if acc < 1000 else f"{acc / 1000:.1f} km"
    return f"You are near {pos.lat:.5f}, {pos.lon:.5f} (within {accuracy})."


async def ping(mo: Mo, command: Command) -> str:
    return "PONG"


def where_handler(locator: SelfLocator) -> Handler:
    """WHERE: locate the sender for the sender. Asking for one's own position is itself the consent (audited)."""

    async def where(mo: Mo, command: Command) -> str:
        try:
            pos = await locator.locate_self(mo.source, request_id=f"{mo.message_id}:where", mo_id=mo.message_id)
        except Exception as exc:  # any location failure becomes an apology, never a silent drop
            reason = getattr(exc, "message", None) or type(exc).__name__
            return f"Sorry, we could not locate you right now ({reason}). Please try again later."
        return format_position(pos)

    return where


def register_builtin(router: KeywordRouter, locator: SelfLocator) -> None:
    """Add PING and WHERE (with French and Dutch aliases) to ``router``."""
    router.add("PING", ping, help="liveness check")
    router.add("WHERE", where_handler(locator), help="your position", aliases={"OU": "fr", "WAAR": "nl"})
