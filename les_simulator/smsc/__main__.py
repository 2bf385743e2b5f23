"""Run the SMSC emulator: SMPP on ``smsc_host:smsc_port``, control API on ``smsc_host:smsc_control_port``."""

from __future__ import annotations

from aiohttp import web

from lbs.settings import Settings
from les_simulator.smsc.control import create_smsc_app


def main() -> None:
    """``python -m les_simulator.smsc``."""
    settings = Settings()
    web.run_app(create_smsc_app(settings), host=settings.smsc_host, port=settings.smsc_control_port)


if __name__ == "__main__":
    main()
