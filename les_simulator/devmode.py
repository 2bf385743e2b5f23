"""The emulators' own default-secret check (a copy kept apart from the platform's ``lbs.devmode``).

An emulator stands for the operator's network: started with ``demo``/``demo`` accounts outside development mode
(``LBS_DEV_MODE=1``), anyone who read this repository could log in to it. :func:`refuse_default_logins` stops it
with one line naming each setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from les_simulator.settings import LesSettings, SmscSettings

# The LES: the MLP accounts it accepts, and the bearer key it presents to the platform's privacy check.
LES_SECRETS = ("les_clients", "privacy_internal_key")
# The SMSC: the SMPP accounts it accepts.
SMSC_SECRETS = ("smsc_accounts",)
# Development values of every credential an emulator holds, also refused under another account name.
_DEV_VALUES = {"demo", "dev-internal-key", "dev-self-location-pwd", "dev-push-secret", ""}


class DefaultLoginsRefused(Exception):
    """An emulator setting still holds a development login outside development mode."""


def _values(value: Any) -> list[str]:
    return [str(v) for v in value.values()] if isinstance(value, dict) else [str(value)]


def refuse_default_logins(settings: LesSettings | SmscSettings, names: Iterable[str]) -> None:
    """Raise :class:`DefaultLoginsRefused` (one line, naming each setting) unless in development mode."""
    if settings.dev_mode:
        return
    found = [name for name in names if any(v in _DEV_VALUES for v in _values(getattr(settings, name)))]
    if found:
        env = ", ".join(f"LBS_{name.upper()}" for name in found)
        raise DefaultLoginsRefused(
            f"refusing to start: {env} still hold a development login (or nothing); set real ones, "
            "or LBS_DEV_MODE=1 for development"
        )
