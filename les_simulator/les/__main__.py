"""Run the LES emulator: ``python -m les_simulator.les [--standalone]``.

``--standalone`` uses the local privacy table (setting ``privacy_test_grants``) instead of asking the platform's
``/v1/privacy/check``; either way, self-location is granted only to ``les_self_location_clients``. Outside
development mode (``LBS_DEV_MODE=1``) it refuses to start with the development logins.
"""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from les_simulator.devmode import LES_SECRETS, DefaultLoginsRefused, refuse_default_logins
from les_simulator.les.app import create_les_app
from les_simulator.les.privacy import LocalPrivacyChecker
from les_simulator.settings import LesSettings


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description="LES emulator (OMA MLP 3.x over HTTP)")
    parser.add_argument("--standalone", action="store_true", help="decide privacy from a local table")
    parser.add_argument("--port", type=int, help="override LBS_LES_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = LesSettings()
    try:  # standalone, the LES asks no one: the internal key it would present is not used
        refuse_default_logins(settings, ("les_clients",) if args.standalone else LES_SECRETS)
    except DefaultLoginsRefused as err:
        sys.exit(f"error: {err}")
    privacy = LocalPrivacyChecker.from_settings(settings) if args.standalone else None
    app = create_les_app(settings, privacy=privacy)
    web.run_app(app, host=settings.les_host, port=args.port or settings.les_port, print=None)


if __name__ == "__main__":
    main()
