"""Typed keys for everything the platform app and its requests carry."""

from __future__ import annotations

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.abc import AbstractResolver

from lbs.apikeys import Principal
from lbs.clock import Clock
from lbs.consent.service import ConsentService
from lbs.location import LocationService
from lbs.messaging.core import MessagingCore
from lbs.metrics import Metrics
from lbs.mlp import MlpClient, PushReceiver
from lbs.settings import Settings

SETTINGS_KEY = web.AppKey("settings", Settings)
# The one clock of this process: every time-dependent rule reads it (lbs/clock.py).
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
PG_POOL_KEY = web.AppKey("pg_pool", asyncpg.Pool)
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
HTTP_SESSION_KEY = web.AppKey("http_session", aiohttp.ClientSession)
METRICS_KEY = web.AppKey("metrics", Metrics)
MESSAGING_KEY = web.AppKey("messaging", MessagingCore)
MLP_CLIENT_KEY = web.AppKey("mlp_client", MlpClient)
CONSENT_KEY = web.AppKey("consent", ConsentService)
LOCATION_KEY = web.AppKey("location", LocationService)
PUSH_LISTENER_KEY = web.AppKey("mlp_push_listener", PushReceiver)
# DNS for user-given callback URLs (lbs.outbound); unset: the system resolver in a thread.
OUTBOUND_RESOLVER_KEY = web.AppKey("outbound_resolver", AbstractResolver)

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
