"""Run the SMSC emulator: SMPP on ``smsc_host:smsc_port``, control API on ``smsc_host:smsc_control_port``.

Outside development mode (``LBS_DEV_MODE=1``) it refuses to start with the development SMPP accounts.
"""

from __future__ import annotations

import sys

from aiohttp import web

from les_simulator.devmode import SMSC_SECRETS, DefaultLoginsRefused, refuse_default_logins
from les_simulator.settings import SmscSettings
from les_simulator.smsc.control import create_smsc_app


def main() -> None:
    """``python -m les_simulator.smsc``."""
    settings = SmscSettings()
    try:
        refuse_default_logins(settings, SMSC_SECRETS)
    except DefaultLoginsRefused as err:
        sys.exit(f"error: {err}")
    web.run_app(create_smsc_app(settings), host=settings.smsc_host, port=settings.smsc_control_port)


if __name__ == "__main__":
    main()
