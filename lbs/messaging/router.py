"""Keyword router: an MO's first word (case- and accent-insensitive, aliases per language) picks its handler."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Mo:
    """A mobile-originated message as the platform sees it."""

    source: str  # E.164 MSISDN of the handset
    destination: str  # the short code (or long number) it was sent to
    text: str
    received_at: datetime
    message_id: str = ""


@dataclass(frozen=True)
class Command:
    """What the router made of an MO: the canonical keyword, the words after it and the language of the alias."""

    keyword: str
    args: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class Reply:
    """A handler's answer with what billing and the outbox need beyond the text."""

    text: str
    application_id: int | None = None


Handler = Callable[[Mo, Command], Awaitable[str | Reply | None]]


def normalise(word: str) -> str:
    """Upper case without accents: ``Pharmacie`` -> ``PHARMACIE``, ``arrêt`` -> ``ARRET``."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


@dataclass
class _Entry:
    keyword: str
    handler: Handler
    help: str


@dataclass
class KeywordRouter:
    """Dispatches MOs on their first word; unknown words get a help reply listing the keywords."""

    service_name: str = "LBS"
    _aliases: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias -> (keyword, language)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def add(self, keyword: str, handler: Handler, *, help: str = "", aliases: dict[str, str] | None = None) -> None:
        """Register ``handler`` for ``keyword`` (English) and its ``aliases`` (alias -> language code)."""
        key = normalise(keyword)
        if key in self._aliases:
            raise ValueError(f"keyword {key} is already registered")
        self._entries[key] = _Entry(key, handler, help)
        self._aliases[key] = (key, "en")
        for alias, language in (aliases or {}).items():
            self._aliases[normalise(alias)] = (key, language)

    def parse(self, text: str) -> Command | None:
        """The command in ``text``, or None when its first word is no known keyword (or the text is empty)."""
        words = normalise(text).split()
        if not words or words[0] not in self._aliases:
            return None
        keyword, language = self._aliases[words[0]]
        return Command(keyword, tuple(words[1:]), language)

    def help_text(self) -> str:
        keywords = ", ".join(sorted(self._entries))
        return f"{self.service_name}: unknown command. Send one of: {keywords}."

    async def dispatch(self, mo: Mo) -> tuple[str, str | Reply | None]:
        """Run the handler for ``mo``; return ``(keyword or "UNKNOWN", reply text or None)``."""
        command = self.parse(mo.text)
        if command is None:
            return "UNKNOWN", self.help_text()
        reply = await self._entries[command.keyword].handler(mo, command)
        return command.keyword, reply
