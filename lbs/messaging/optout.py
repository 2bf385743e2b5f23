"""The STOP list by SMS: STOP / ARRET / STOPPEN / UNSUBSCRIBE [BRAND], START [BRAND], HELP / AIDE / HULP.

Opt-outs are stored under a keyed hash of the MSISDN, so they survive the subscriber's erasure. ``STOP <APP>``
naming an application also withdraws that application's location consent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from lbs.db import Conn
from lbs.messaging.router import Command, KeywordRouter, Mo
from lbs.pseudonym import pseudonym

TEXTS = {
    "en": {
        "stop_all": "You will receive no more promotional SMS. Send START to undo. Free.",
        "stop_brand": "You will receive no more SMS offers from {brand}. Send START {brand} to undo.",
        "start_all": "Promotional SMS are allowed again. Send STOP to refuse them.",
        "start_brand": "SMS offers from {brand} are allowed again.",
        "help": "{service}: location services by SMS. STOP: no more offers. LOC OFF: no more location. Free.",
    },
    "fr": {
        "stop_all": "Vous ne recevrez plus de SMS promotionnels. Envoyez START pour annuler. Gratuit.",
        "stop_brand": "Vous ne recevrez plus d'offres SMS de {brand}. Envoyez START {brand} pour annuler.",
        "start_all": "Les SMS promotionnels sont a nouveau autorises. Envoyez STOP pour les refuser.",
        "start_brand": "Les offres SMS de {brand} sont a nouveau autorisees.",
        "help": "{service}: services de localisation par SMS. STOP: plus d'offres. LOC OFF: plus de localisation.",
    },
    "nl": {
        "stop_all": "U ontvangt geen promotie-sms meer. Stuur START om dit ongedaan te maken. Gratis.",
        "stop_brand": "U ontvangt geen sms-aanbiedingen meer van {brand}. Stuur START {brand} om dit te herstellen.",
        "start_all": "Promotie-sms zijn opnieuw toegestaan. Stuur STOP om ze te weigeren.",
        "start_brand": "Sms-aanbiedingen van {brand} zijn opnieuw toegestaan.",
        "help": "{service}: locatiediensten via sms. STOP: geen aanbiedingen. LOC OFF: geen locatie meer. Gratis.",
    },
}

RevokeApp = Callable[[Mo, str, str], Awaitable[str | None]]  # (mo, app, language) -> confirmation or None
StopListener = Callable[[Conn, str, str | None], Awaitable[None]]  # (conn, subject, brand or None for all)


def _t(language: str, key: str, **values: str) -> str:
    return TEXTS.get(language, TEXTS["en"])[key].format(**values)


class OptOutSms:
    """STOP/START/HELP on one short code."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        pseudonym_key: str,
        service: str,
        revoke_app: RevokeApp,
        stop_listeners: list[StopListener] | None = None,
    ) -> None:
        self.pool = pool
        self.key = pseudonym_key
        self.service = service
        self.revoke_app = revoke_app
        self.stop_listeners = stop_listeners or []  # e.g. promotion reports counting STOPs

    def register(self, router: KeywordRouter) -> None:
        router.add(
            "STOP",
            self.stop,
            help="no more offers",
            aliases={"ARRET": "fr", "STOPPEN": "nl", "UNSUBSCRIBE": "en", "DESINSCRIPTION": "fr"},
        )
        router.add("START", self.start, help="offers again")
        router.add("HELP", self.help, help="help", aliases={"AIDE": "fr", "HULP": "nl"})

    async def stop(self, mo: Mo, cmd: Command) -> str:
        brand = cmd.args[0] if cmd.args else "*"
        subject = pseudonym(self.key, mo.source)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO opt_outs (subject, brand) VALUES ($1, $2) ON CONFLICT DO NOTHING", subject, brand
            )
            for listener in self.stop_listeners:
                await listener(conn, subject, None if brand == "*" else brand)
        if brand == "*":
            return _t(cmd.language, "stop_all")
        revoked = await self.revoke_app(mo, brand, cmd.language)
        offers = _t(cmd.language, "stop_brand", brand=brand)
        return f"{revoked} {offers}" if revoked else offers

    async def start(self, mo: Mo, cmd: Command) -> str:
        subject = pseudonym(self.key, mo.source)
        if cmd.args:
            await self.pool.execute("DELETE FROM opt_outs WHERE subject = $1 AND brand = $2", subject, cmd.args[0])
            return _t(cmd.language, "start_brand", brand=cmd.args[0])
        await self.pool.execute("DELETE FROM opt_outs WHERE subject = $1", subject)
        return _t(cmd.language, "start_all")

    async def help(self, mo: Mo, cmd: Command) -> str:
        return _t(cmd.language, "help", service=self.service)
