"""Fixtures of the security tests: the geofence tests' provider keys (PromoCity, Other, an operator)."""

from tests.geofences.conftest import keys

__all__ = ["keys"]
