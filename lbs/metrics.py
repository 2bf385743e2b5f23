"""Prometheus metrics, one registry per app instance (so tests and several apps in one process don't clash)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Every counter and histogram the platform exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "lbs_http_requests", "API requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.http_seconds = Histogram(
            "lbs_http_request_seconds", "API request latency", ["method", "route"], registry=self.registry
        )
        self.mo_received = Counter("lbs_mo_received", "MO messages received", ["keyword"], registry=self.registry)
        self.mt_sent = Counter("lbs_mt_submitted", "MT messages submitted to the SMSC", registry=self.registry)
        self.mt_expired = Counter(
            "lbs_mt_expired",
            "MTs resolved as expired because no receipt came within their validity",
            registry=self.registry,
        )
        self.result_retries = Counter(
            "lbs_mt_result_batch_retries",
            "Batches of submit results and receipts written again after a failure",
            registry=self.registry,
        )
        self.task_up = Gauge(
            "lbs_task_up",
            "1 while a supervised background task runs, 0 while it restarts or is dead",
            ["task"],
            registry=self.registry,
        )
        self.task_restarts = Counter(
            "lbs_task_restarts",
            "Restarts of a supervised background task after a failure",
            ["task"],
            registry=self.registry,
        )
        self.locations = Counter(
            "lbs_location_requests", "Location requests to the LES", ["outcome"], registry=self.registry
        )

        self.dead_letters = Gauge(
            "lbs_geofence_dead_letters", "Poison work the geofence workers set aside", ["kind"], registry=self.registry
        )
        self.refreshers: list[Callable[[], Awaitable[None]]] = []  # read stores for gauges, at each scrape

    async def refresh(self) -> None:
        """Update the gauges read from stores; one that fails keeps its last value (a scrape never fails)."""
        for refresher in self.refreshers:
            with contextlib.suppress(Exception):
                await refresher()

    def render(self) -> bytes:
        return generate_latest(self.registry)
