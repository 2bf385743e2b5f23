"""Typed keys for everything the platform app and its requests carry."""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from lbs.apikeys import Principal
from lbs.settings import Settings

SETTINGS_KEY = web.AppKey("settings", Settings)
PG_POOL_KEY = web.AppKey("pg_pool", asyncpg.Pool)
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
HTTP_SESSION_KEY = web.AppKey("http_session", aiohttp.ClientSession)
METRICS_KEY = web.AppKey("metrics", Any)
MESSAGING_KEY = web.AppKey("messaging", Any)
MLP_CLIENT_KEY = web.AppKey("mlp_client", Any)

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
