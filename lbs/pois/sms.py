"""Active queries by SMS: ``PHARMACY`` / ``PHARMACIE`` / ``APOTHEEK``, ``ATM``, ``HOTEL``, ``PETROL``, ... and
``NEAREST <word>`` (``PROCHE``, ``DICHTSTE``).

MO -> application of the short code -> consent (active lookup): no grant -> a consent-request SMS, nothing
located, nothing billed -> MLP locate (the subscriber is the requestor) -> a location billed -> nearest-k ->
the reply (one SMS where possible) billed per segment. LES failure -> an apology, nothing billed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import structlog
from h3.api.basic_int import cell_to_latlng, latlng_to_cell

from lbs.billing import LocationKind
from lbs.billing.errors import PaymentRequired
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose, Reason
from lbs.consent.service import ConsentService
from lbs.consent.texts import purpose_word, text
from lbs.errors import LbsError, NotFound
from lbs.messaging.gsm import segment_count
from lbs.messaging.router import Command, Handler, KeywordRouter, Mo, normalise
from lbs.mlp.models import Position, Qos
from lbs.pois import reply
from lbs.pois.areas import area_name
from lbs.pois.billing import BillingSink, CdrBilling, Usage
from lbs.pois.categories import CATEGORIES, word_table
from lbs.pois.search import PoiSearch
from lbs.pois.store import AppRef, app_for_short_code
from lbs.settings import Settings

log = structlog.get_logger(__name__)

NEAREST_WORDS = {"PROCHE": "fr", "DICHTSTE": "nl", "DICHTSTBIJZIJNDE": "nl"}


class Locator(Protocol):
    """What the handler needs of :class:`lbs.mlp.MlpClient`."""

    async def locate(self, msisdn: str, *, requestor: str | None = None, qos: Qos | None = None) -> Position: ...


@dataclass
class ActiveQueryDeps:
    """Everything the POI keywords use. ``consent`` and ``billing`` default to the platform's own."""

    pool: asyncpg.Pool[Any]
    locator: Locator
    settings: Settings
    search: PoiSearch
    consent: ConsentService | None = None
    billing: BillingSink | None = None
    words: dict[str, tuple[str, str | None]] = field(default_factory=word_table)


@dataclass(frozen=True)
class Query:
    """One parsed active query: the category and the reply language (None: use the subscriber's)."""

    category: str
    language: str | None


class ActiveQueries:
    """The handler behind every POI keyword."""

    def __init__(self, deps: ActiveQueryDeps) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.consent = deps.consent or ConsentService(deps.pool, deps.settings)
        self.billing: BillingSink = deps.billing or CdrBilling(deps.pool)
        self.qos = Qos(hor_acc_m=deps.settings.pois_hor_acc_m or None)

    def parse(self, mo: Mo, command: Command) -> Query | None:
        """The category and language of ``mo`` (``NEAREST ATM`` names it in its second word)."""
        words = normalise(mo.text).split()
        word = words[1] if command.keyword == "NEAREST" and len(words) > 1 else words[0]
        found = self.deps.words.get(word)
        if found is None:
            return None
        code, language = found
        if command.keyword == "NEAREST":
            language = command.language if words[0] != "NEAREST" else language
        return Query(code, language)

    async def language_of(self, msisdn: str, query: Query) -> str:
        """The reply language: the keyword's, or for a word shared by languages the subscriber's stored one."""
        if query.language is not None:
            return query.language
        stored = await self.deps.pool.fetchval("SELECT language FROM subscribers WHERE msisdn = $1", msisdn)
        return str(stored or "en")

    async def handle(self, mo: Mo, command: Command) -> str | None:
        """Answer one MO (the router sends the returned text back to the handset)."""
        query = self.parse(mo, command)
        if query is None:
            return None
        language = await self.language_of(mo.source, query)
        try:
            app = await app_for_short_code(self.deps.pool, mo.destination, self.settings.pois_application)
        except NotFound:
            return reply.message(language, "unavailable")
        decision = await self.consent.check(mo.source, app.name, Purpose.ACTIVE_LOOKUP)
        if not decision.allowed:
            return await self.refused(mo, app, decision.reason, language)
        return await self.answer(mo, app, query.category, decision.precision, language)

    async def refused(self, mo: Mo, app: AppRef, reason: Reason, language: str) -> str:
        """No location without consent: a paused subscriber is told so; otherwise the application asks."""
        if reason is Reason.CONSENT_PAUSED:
            return reply.message(language, "paused")
        source = registry.Source("sms", mo.source, {"mo_message_id": mo.message_id, "text": mo.text})
        try:
            await self.consent.request(mo.source, app.name, Purpose.ACTIVE_LOOKUP, Precision.EXACT, source)
        except LbsError as exc:  # an unknown subscriber can still read the request; YES will then tell them
            log.info("consent request not recorded", reason=exc.message)
        return text(language, "request", app=app.name, purpose=purpose_word(language, Purpose.ACTIVE_LOOKUP))

    async def locate(self, mo: Mo, precision: Precision | None, language: str) -> reply.Origin | None:
        """The search origin: the position, or the centre of its coarse cell (with the area's name)."""
        try:
            pos = await self.deps.locator.locate(mo.source, requestor=mo.source, qos=self.qos)
        except Exception as exc:  # any failure becomes an apology, never a silent drop; LocationError is usual
            log.info("active query not located", msisdn=mo.source, error=getattr(exc, "code", type(exc).__name__))
            return None
        if precision is Precision.COARSE or pos.precision == "coarse":
            lat, lon = cell_to_latlng(latlng_to_cell(pos.lat, pos.lon, self.settings.les_coarse_h3_res))
            return reply.Origin(lat, lon, coarse=True, area=area_name(lat, lon, language))
        return reply.Origin(pos.lat, pos.lon)

    async def answer(self, mo: Mo, app: AppRef, code: str, precision: Precision | None, language: str) -> str:
        """Locate, bill the location, search, compose and bill the reply."""
        origin = await self.locate(mo, precision, language)
        if origin is None:
            return reply.message(language, "sorry")
        usage = Usage(f"sms:{mo.message_id or uuid.uuid4().hex}", app.provider_id, app.id, mo.received_at,
                      mo.destination)  # fmt: skip
        try:
            await self.billing.location(usage, LocationKind.ACTIVE)
        except PaymentRequired:
            return reply.message(language, "unavailable")
        text_out = await self.search_reply(app, code, origin, language)
        await self.billing.reply(usage, segment_count(text_out))
        return text_out

    async def search_reply(self, app: AppRef, code: str, origin: reply.Origin, language: str) -> str:
        """The k nearest within the radius, or the no-result text naming the nearest one found."""
        pool, search, radius = self.deps.pool, self.deps.search, self.settings.pois_max_radius_m
        hits = await search.nearest(pool, app.id, code, origin.lat, origin.lon, self.settings.pois_default_k, radius)
        if hits:
            return reply.compose(language, code, hits, origin)
        nearest = await search.nearest(pool, app.id, code, origin.lat, origin.lon, 1)
        return reply.none_within(language, code, radius, nearest[0] if nearest else None, origin)


def _aliases(router: KeywordRouter, main: str, words: dict[str, tuple[str, str | None]], code: str) -> dict[str, str]:
    out = {}
    for word, (category, language) in words.items():
        if category == code and word != main and router.parse(word) is None:
            out[word] = language or "en"
    return out


def register_keywords(router: KeywordRouter, deps: ActiveQueryDeps) -> ActiveQueries:
    """Add every POI category's words (EN/FR/NL) and ``NEAREST <word>`` to ``router``.

    A word another part already registered keeps its owner (logged and skipped here).
    """
    queries = ActiveQueries(deps)
    handler: Handler = queries.handle
    for code, cat in CATEGORIES.items():
        main = cat.words["en"][0]
        try:
            router.add(main, handler, help=f"nearest {cat.names['en']}",
                       aliases=_aliases(router, main, deps.words, code))  # fmt: skip
        except ValueError:
            log.warning("poi keyword already taken", keyword=main)
    try:
        router.add("NEAREST", handler, help="NEAREST <place>", aliases=dict(NEAREST_WORDS))
    except ValueError:
        log.warning("poi keyword already taken", keyword="NEAREST")
    return queries
