"""Consent by SMS: YES/OUI/JA <APP>, STOP <APP>, LOC OFF [<APP>], LOC LIST, PAUSE 2H, INFO.

Each handler returns the confirmation the subscriber receives (one SMS per change).
"""

from __future__ import annotations

from lbs.consent import registry
from lbs.consent.decision import Grant, Precision, Purpose
from lbs.consent.service import ConsentService, parse_duration
from lbs.consent.texts import purpose_word, text
from lbs.errors import InvalidArgument, NotFound
from lbs.messaging.router import Command, KeywordRouter, Mo

LOCATION_PURPOSES = (Purpose.ACTIVE_LOOKUP, Purpose.GEOFENCING)


def _source(mo: Mo) -> registry.Source:
    return registry.Source("sms", mo.source, {"mo_message_id": mo.message_id, "text": mo.text, "to": mo.destination})


def _live(grants: list[Grant], mo: Mo) -> list[Grant]:
    return [g for g in grants if g.revoked_at is None and g.expires_at > mo.received_at]


class ConsentSms:
    """The consent keywords, bound to one :class:`ConsentService`."""

    def __init__(self, service: ConsentService) -> None:
        self.service = service

    def register(self, router: KeywordRouter) -> None:
        router.add("YES", self.yes, help="allow an application", aliases={"OUI": "fr", "JA": "nl"})
        router.add("LOC", self.loc, help="LOC LIST / LOC OFF")
        router.add("PAUSE", self.pause, help="pause all location")
        router.add("INFO", self.info, help="who may locate you", aliases={"AIDE": "fr"})

    async def yes(self, mo: Mo, cmd: Command) -> str:
        app = cmd.args[0] if cmd.args else None
        try:
            pending = await self.service.pending(mo.source, app)
        except NotFound:
            return text(cmd.language, "unknown_app", app=app or "")
        apps = {p.application for p in pending}
        if app is None and len(apps) != 1:
            key = "no_request" if not apps else "which_app"
            return text(cmd.language, key, example=sorted(apps)[0] if apps else "")
        if not pending:  # "YES CITYGUIDE" with no open request: nearby search, exact
            pending_list = [(app or "", Purpose.ACTIVE_LOOKUP, Precision.EXACT)]
        else:
            pending_list = [(p.application, p.purpose, p.precision) for p in pending]
        try:
            for name, purpose, precision in pending_list:
                event = await self.service.grant(mo.source, name, purpose, precision, _source(mo))
        except NotFound:
            return text(cmd.language, "unknown_app", app=app or "")
        words = ", ".join(purpose_word(cmd.language, p) for _, p, _ in pending_list)
        assert event.expires_at is not None
        return text(
            cmd.language, "granted", app=pending_list[0][0], purpose=words, until=f"{event.expires_at:%Y-%m-%d}"
        )

    async def revoke_app(self, mo: Mo, app: str, language: str) -> str | None:
        """STOP <APP> / LOC OFF <APP>; None when ``app`` is no application (a brand, say)."""
        try:
            await self.service.revoke(mo.source, app, None, _source(mo))
        except NotFound:
            return None
        return text(language, "revoked", app=app.upper())

    async def loc(self, mo: Mo, cmd: Command) -> str:
        sub, rest = (cmd.args[0], cmd.args[1:]) if cmd.args else ("", ())
        if sub == "LIST":
            return await self.info(mo, cmd)
        if sub == "OFF" and rest:
            reply = await self.revoke_app(mo, rest[0], cmd.language)
            return reply or text(cmd.language, "unknown_app", app=rest[0])
        if sub == "OFF":
            for purpose in LOCATION_PURPOSES:
                await self.service.revoke(mo.source, None, purpose, _source(mo))
            return text(cmd.language, "revoked_all")
        return text(cmd.language, "loc_usage")

    async def pause(self, mo: Mo, cmd: Command) -> str:
        try:
            span = parse_duration("".join(cmd.args))
        except InvalidArgument:
            return text(cmd.language, "bad_pause")
        until = await self.service.pause_all(mo.source, span, _source(mo))
        return text(cmd.language, "paused", until=f"{until:%Y-%m-%d %H:%M}")

    async def info(self, mo: Mo, cmd: Command) -> str:
        grants, _ = await self.service.grants(mo.source)
        live = _live(grants, mo)
        if not live:
            return text(cmd.language, "none")
        items = "; ".join(
            f"{g.application} ({purpose_word(cmd.language, g.purpose)}, {g.precision.value})" for g in live
        )
        return text(cmd.language, "list", items=items)
