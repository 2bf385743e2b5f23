"""Prometheus metrics, one registry per app instance (so tests and several apps in one process don't clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


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
        self.locations = Counter(
            "lbs_location_requests", "Location requests to the LES", ["outcome"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
