"""Default secrets: outside development mode, no server, worker or emulator starts with one.

The settings ship with development values (``dev-internal-key``, ``dev-pseudonym-key-change-me``, ``demo``/``demo``
...) so that ``make run`` and the tests work on a fresh machine. Anyone who has read this repository knows them, so
a deployment that forgot one would let a stranger ask ``/v1/privacy/check`` about any subscriber, reverse the
pseudonyms, bind to the SMSC or log in to the LES. Unless ``LBS_DEV_MODE=1`` (which ``make run``, ``make test``,
the tests and the demo set), :func:`refuse_default_secrets` stops the process with one line naming each setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lbs.settings import Settings

# The secrets every platform process (API, messaging and geofence workers) holds or checks.
PLATFORM_SECRETS = (
    "privacy_internal_key",
    "pseudonym_key",
    "mlp_client_pwd",
    "mlp_self_client_pwd",
    "mlp_push_pwd",
    "smpp_password",
    "oauth_jwt_secret",
)


class DefaultSecretsRefused(Exception):
    """A setting still holds a development default (or is empty) outside development mode."""


def _values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else [value]


def known_defaults(names: Iterable[str]) -> set[str]:
    """Every default value of the named secret settings (a password reused under another name is no better)."""
    return {str(v) for name in names for v in _values(Settings.model_fields[name].default)}


def defaults_in_use(settings: Settings, names: Iterable[str]) -> list[str]:
    """The settings among ``names`` that hold a development default or an empty value."""
    names = tuple(names)
    weak = known_defaults(names) | {""}
    return [name for name in names if any(str(v) in weak for v in _values(getattr(settings, name)))]


def refuse_default_secrets(settings: Settings, names: Iterable[str] = PLATFORM_SECRETS) -> None:
    """Raise :class:`DefaultSecretsRefused` (one line, naming each setting) unless in development mode."""
    if settings.dev_mode:
        return
    found = defaults_in_use(settings, names)
    if found:
        env = ", ".join(f"LBS_{name.upper()}" for name in found)
        raise DefaultSecretsRefused(
            f"refusing to start: {env} still hold a development default (or nothing); set real secrets, "
            "or LBS_DEV_MODE=1 for development"
        )
