"""The engine's parameters from :class:`lbs.settings.Settings` (the ``geofence_*`` block)."""

from __future__ import annotations

from geofences.index import FenceIndex
from geofences.model import FenceLimits
from geofences.transitions import Hysteresis
from lbs.settings import Settings


def limits_from(settings: Settings) -> FenceLimits:
    """What a provider may register."""
    return FenceLimits(
        max_vertices=settings.geofence_max_vertices,
        max_area_km2=settings.geofence_max_area_km2,
        min_radius_m=settings.geofence_min_radius_m,
        max_radius_m=settings.geofence_max_radius_m,
    )


def hysteresis_from(settings: Settings) -> Hysteresis:
    """The anti-flapping rule."""
    return Hysteresis(
        max_margin_m=settings.geofence_hysteresis_max_m,
        accuracy_factor=settings.geofence_hysteresis_factor,
        confirm_reports=settings.geofence_confirm_reports,
    )


def index_from(settings: Settings) -> FenceIndex:
    """An empty index with the configured grid."""
    return FenceIndex(
        circle_cell_deg=settings.geofence_circle_cell_deg,
        polygon_cell_deg=settings.geofence_polygon_cell_deg,
        max_delta=settings.geofence_max_delta,
    )
