"""Nothing dead: every function, method, class and import of the platform and the emulators is used somewhere
(production code, its tests or its benchmarks), but for the short list below of names a library calls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("lbs", "api", "geofences", "les_simulator")
# Decorated handlers and validators are called by aiohttp, pydantic, pytest and hypothesis.
DECORATORS = (
    "@routes.*,@*.get,@*.post,@*.put,@*.patch,@*.delete,@field_validator,@model_validator,@pytest.fixture,@given"
)
# Kinds of finding this check holds (vulture's guesses about variables and attributes are too noisy to gate on).
KINDS = re.compile(r"unused (function|method|class|import)|unreachable code")
# Called by a library through an interface, never by our own code.
CALLED_BY_A_LIBRARY = {
    "lbs/messaging/smpp.py: put_delivery_segmented",  # aiosmpplib AbstractCorrelator
    "lbs/messaging/smpp.py: dequeue",  # aiosmpplib AbstractBroker
    "lbs/messaging/smpp.py: sending",  # aiosmpplib AbstractHook
    "lbs/messaging/smpp.py: send_error",  # aiosmpplib AbstractHook
}


def findings() -> set[str]:
    vulture = Path(sys.executable).with_name("vulture")
    args = [str(vulture), *CODE, "tests", "bench", "--min-confidence", "60", "--ignore-decorators", DECORATORS]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 3), done.stderr  # 3: vulture found something
    found = set()
    for line in done.stdout.splitlines():
        path, _, rest = line.partition(":")
        if path.split("/")[0] in CODE and KINDS.search(rest):
            name = re.search(r"'([^']+)'", rest)
            found.add(f"{path}: {name.group(1) if name else rest.strip()}")
    return found


def test_nothing_dead() -> None:
    assert findings() - CALLED_BY_A_LIBRARY == set()


def test_the_whitelist_is_still_needed() -> None:
    assert findings() >= CALLED_BY_A_LIBRARY
