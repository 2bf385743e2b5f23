"""Long-running tasks that cannot die quietly: each one is restarted with back-off, and its state is visible.

A loop that raises (a PostgreSQL failover, a Redis restart, a bug) is logged, marked ``restarting`` with the
error, and started again after 0.1 s doubling to :data:`MAX_BACKOFF_S`; once it has run for
:data:`STABLE_AFTER_S` the back-off starts from the bottom again. A loop that *returns* was not meant to (every
supervised loop runs until cancelled): it is marked ``dead`` and not restarted, so /health reports it until an
operator looks. ``/health`` reads :meth:`Supervisor.states`; ``/metrics`` gets ``lbs_task_up`` and
``lbs_task_restarts`` per task.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from lbs.metrics import Metrics

log = structlog.get_logger(__name__)

MIN_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0  # a dependency back after an outage is used again within this long
STABLE_AFTER_S = 30.0  # a run this long resets the back-off: the next failure is a new incident

Loop = Callable[[], Awaitable[None]]


class TaskStatus(enum.Enum):
    RUNNING = "running"
    RESTARTING = "restarting"  # failed; waiting for its back-off before the next start
    DEAD = "dead"  # returned, or was stopped: never restarted


@dataclass(frozen=True, slots=True)
class TaskState:
    """What /health says about one supervised task."""

    status: TaskStatus
    restarts: int = 0
    last_error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is TaskStatus.RUNNING

    def describe(self) -> str:
        if self.status is TaskStatus.RUNNING:
            return "running" if not self.restarts else f"running (restarted {self.restarts}x, last: {self.last_error})"
        return f"{self.status.value} after {self.restarts} restart(s): {self.last_error or 'no error'}"


def backoff_s(failures: int) -> float:
    """Delay before restart number ``failures`` of one incident."""
    return float(min(MAX_BACKOFF_S, MIN_BACKOFF_S * 2 ** max(0, failures - 1)))


class Supervisor:
    """Runs named loops until :meth:`stop`; restarts the ones that fail."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._states: dict[str, TaskState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, loop: Loop) -> None:
        """Run ``loop()`` under supervision as task ``name``."""
        self._set(name, TaskState(TaskStatus.RUNNING))
        self._tasks[name] = asyncio.create_task(self._supervise(name, loop), name=name)

    def states(self) -> dict[str, TaskState]:
        return dict(self._states)

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _supervise(self, name: str, loop: Loop) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await loop()
            except Exception as exc:  # every failure is restarted; CancelledError (a stop) is not an Exception
                failures = 1 if time.monotonic() - started >= STABLE_AFTER_S else failures + 1
                await self._failed(name, exc, failures)
                continue
            log.error("supervised task returned; it is not restarted", task=name)
            self._set(name, TaskState(TaskStatus.DEAD, self._states[name].restarts, "returned"))
            return

    async def _failed(self, name: str, exc: Exception, failures: int) -> None:
        restarts = self._states[name].restarts + 1
        delay = backoff_s(failures)
        log.error("supervised task failed; restarting", task=name, error=repr(exc), in_s=delay, exc_info=exc)
        self._set(name, TaskState(TaskStatus.RESTARTING, restarts, repr(exc)))
        if self.metrics is not None:
            self.metrics.task_restarts.labels(name).inc()
        await asyncio.sleep(delay)
        self._set(name, TaskState(TaskStatus.RUNNING, restarts, repr(exc)))

    def _set(self, name: str, state: TaskState) -> None:
        self._states[name] = state
        if self.metrics is not None:
            self.metrics.task_up.labels(name).set(1 if state.ok else 0)
