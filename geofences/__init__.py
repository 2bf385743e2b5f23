"""Geofence engine: fence index, presence state, transitions, promotion triggers."""
