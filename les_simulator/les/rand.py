"""Stable pseudo-random numbers from integer keys (splitmix64): the same key gives the same number in every
process and run, with no ``random.Random`` to build per draw (the emulator draws several per position)."""

from __future__ import annotations

_MASK = (1 << 64) - 1
_SCALE = 1.0 / (1 << 64)


def mix(*parts: int) -> int:
    """A 64-bit hash of the integers ``parts``."""
    z = 0x9E3779B97F4A7C15
    for part in parts:
        z = (z + (part & _MASK) + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
    return z


def unit(*parts: int) -> float:
    """A float in [0, 1) determined by ``parts``."""
    return mix(*parts) * _SCALE
