"""LES emulator: an operator's Location Enabling Server speaking OMA MLP 3.x over HTTP (see docs/mlp.md)."""
