"""Typed keys of the SMSC emulator's control application."""

from __future__ import annotations

from aiohttp import web

from les_simulator.smsc.server import SmscEmulator

SMSC = web.AppKey("smsc", SmscEmulator)
