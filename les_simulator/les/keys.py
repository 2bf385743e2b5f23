"""Typed keys of the LES emulator app."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from les_simulator.les.clock import Clock
from les_simulator.les.population import Population
from les_simulator.les.privacy import PrivacyChecker
from les_simulator.les.push import Pusher
from les_simulator.les.service import LocationService
from les_simulator.les.state import LesState
from les_simulator.les.triggers import TriggerManager
from les_simulator.settings import LesSettings

SETTINGS_KEY = web.AppKey("les_settings", LesSettings)
CLOCK_KEY = web.AppKey("les_clock", Clock)
POPULATION_KEY = web.AppKey("les_population", Population)
STATE_KEY = web.AppKey("les_state", LesState)
PRIVACY_KEY = web.AppKey("les_privacy", PrivacyChecker)
HTTP_SESSION_KEY = web.AppKey("les_http_session", aiohttp.ClientSession)
SERVICE_KEY = web.AppKey("les_service", LocationService)
PUSHER_KEY = web.AppKey("les_pusher", Pusher)
TRIGGERS_KEY = web.AppKey("les_triggers", TriggerManager)
