"""SMSC emulator: an SMPP 3.4 server with simulated handsets, named failure modes and an HTTP control API."""

from les_simulator.smsc.control import create_smsc_app, create_smsc_control_app
from les_simulator.smsc.server import SmscEmulator

__all__ = ["SmscEmulator", "create_smsc_app", "create_smsc_control_app"]
