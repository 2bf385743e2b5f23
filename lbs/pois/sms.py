"""Active queries by SMS: ``PHARMACY`` / ``PHARMACIE`` / ``APOTHEEK``, ``ATM``, ``HOTEL``, ``PETROL``, ... and
``NEAREST <word>`` (``PROCHE``, ``DICHTSTE``).

MO -> application of the short code -> :class:`lbs.location.LocationService` (consent, prepaid reservation, MLP,
coarse enforcement, disclosure audit and location CDR): no grant -> a consent-request SMS, nothing located,
nothing billed -> nearest-k -> the reply, returned as a :class:`lbs.messaging.core.Reply` carrying the
application, so the MT pipeline bills its segments to it. LES failure -> an apology, nothing billed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from lbs.billing import LocationKind
from lbs.billing.errors import PaymentRequired
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose, Reason
from lbs.consent.texts import purpose_word, text
from lbs.errors import LbsError, NotFound
from lbs.location import ConsentRefused, LocationService
from lbs.messaging.router import Command, Handler, KeywordRouter, Mo, Reply, normalise
from lbs.mlp.models import Position, Qos
from lbs.pois import reply
from lbs.pois.areas import area_name
from lbs.pois.categories import CATEGORIES, word_table
from lbs.pois.search import PoiSearch
from lbs.pois.store import AppRef, CustomWord, app_for_short_code
from lbs.settings import Settings

log = structlog.get_logger(__name__)

NEAREST_WORDS = {"PROCHE": "fr", "DICHTSTE": "nl", "DICHTSTBIJZIJNDE": "nl"}


@dataclass
class ActiveQueryDeps:
    """Everything the POI keywords use: the pool, the platform's location service, settings, the search."""

    pool: asyncpg.Pool[Any]
    location: LocationService
    settings: Settings
    search: PoiSearch
    words: dict[str, tuple[str, str | None]] = field(default_factory=word_table)
    custom: list[CustomWord] = field(default_factory=list)  # rows of poi_keywords, loaded at start-up


@dataclass(frozen=True)
class Query:
    """One parsed active query: the category, the reply language (None: use the subscriber's) and, for a
    custom word, the application it belongs to."""

    category: str
    language: str | None
    application: AppRef | None = None


def origin_of(position: Position, language: str) -> reply.Origin:
    """Where to search from: the position; a coarse one (a cell centre) is named by its area."""
    if position.precision == "coarse":
        return reply.Origin(position.lat, position.lon, coarse=True, area=area_name(position.lat, position.lon,
                                                                                    language))  # fmt: skip
    return reply.Origin(position.lat, position.lon)


class ActiveQueries:
    """The handler behind every POI keyword."""

    def __init__(self, deps: ActiveQueryDeps, router: KeywordRouter | None = None) -> None:
        self.deps = deps
        self.router = router
        self.custom = {(w.short_code, w.keyword): w for w in deps.custom}
        self.custom_words = {w.keyword for w in deps.custom}
        self.settings = deps.settings
        self.consent = deps.location.consent
        self.qos = Qos(hor_acc_m=deps.settings.pois_hor_acc_m or None)

    def parse(self, mo: Mo, command: Command) -> Query | None:
        """The category and language of ``mo`` (``NEAREST ATM`` names it in its second word)."""
        words = normalise(mo.text).split()
        word = words[1] if command.keyword == "NEAREST" and len(words) > 1 else words[0]
        custom = self.custom.get((mo.destination, word))
        if custom is not None:
            return Query(custom.category, custom.language, custom.application)
        found = self.deps.words.get(word)
        if found is None:  # a custom word of another short code
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

    async def handle(self, mo: Mo, command: Command) -> str | Reply | None:
        """Answer one MO: a :class:`Reply` billed to the application, or a plain (unbilled) text."""
        query = self.parse(mo, command)
        if query is None:
            return self.router.help_text() if self.router is not None else None
        language = await self.language_of(mo.source, query)
        try:
            app = query.application or await app_for_short_code(
                self.deps.pool, mo.destination, self.settings.pois_application
            )
        except NotFound:
            return reply.message(language, "unavailable")
        try:
            located = await self.deps.location.locate(
                mo.source, app.name, Purpose.ACTIVE_LOOKUP, request_id=f"sms:{mo.message_id or uuid.uuid4().hex}",
                kind=LocationKind.ACTIVE, qos=self.qos,
            )  # fmt: skip
        except ConsentRefused as refused:
            return await self.refused(mo, app, refused.decision.reason, language)
        except PaymentRequired:
            return reply.message(language, "unavailable")
        except Exception as exc:  # any failure to locate becomes an apology, never a silent drop
            log.info("active query not located", msisdn=mo.source, error=getattr(exc, "code", type(exc).__name__))
            return reply.message(language, "sorry")
        answer = await self.search_reply(app, query.category, origin_of(located.position, language), language)
        return Reply(answer, app.id)

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
    """Add every POI category's words (EN/FR/NL), the custom words of ``deps.custom`` (``poi_keywords``: they
    answer only on their short code, for their application) and ``NEAREST <word>`` to ``router``.

    A word another part already registered keeps its owner (logged and skipped here).
    """
    queries = ActiveQueries(deps, router)
    words = dict(deps.words)
    for custom in deps.custom:  # a custom word routes to its category's handler on every short code
        words.setdefault(custom.keyword, (custom.category, custom.language))
    # The handler answers a Reply (text + application) so the MT pipeline bills the reply to the application.
    handler: Handler = queries.handle
    for code, cat in CATEGORIES.items():
        main = cat.words["en"][0]
        try:
            router.add(main, handler, help=f"nearest {cat.names['en']}",
                       aliases=_aliases(router, main, words, code))  # fmt: skip
        except ValueError:
            log.warning("poi keyword already taken", keyword=main)
    try:
        router.add("NEAREST", handler, help="NEAREST <place>", aliases=dict(NEAREST_WORDS))
    except ValueError:
        log.warning("poi keyword already taken", keyword="NEAREST")
    return queries
