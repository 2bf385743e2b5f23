"""The ``subscribers`` table's owner: who the platform has heard of, and in which language to answer them."""

from __future__ import annotations

from lbs.db import Executor


async def remember(db: Executor, msisdn: str, language: str) -> None:
    """Record a subscriber the first time they text the platform (their language from their first keyword)."""
    await db.execute(
        "INSERT INTO subscribers (msisdn, language) VALUES ($1, $2) ON CONFLICT (msisdn) DO NOTHING", msisdn, language
    )
