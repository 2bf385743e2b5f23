"""Supervised loops: a failing loop is restarted with back-off and its state shows; a loop that returns is dead."""

from __future__ import annotations

import asyncio

import pytest

from lbs.messaging.supervisor import MAX_BACKOFF_S, Supervisor, TaskStatus, backoff_s
from lbs.metrics import Metrics


async def wait_for(check: object, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert backoff_s(50) == MAX_BACKOFF_S


async def test_a_failing_loop_is_restarted_and_its_state_shows() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    runs: list[int] = []
    release = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise ConnectionError(f"blip {len(runs)}")
        await release.wait()
        await asyncio.Event().wait()  # then runs until cancelled

    supervisor.start("flaky", flaky)
    try:
        await wait_for(lambda: supervisor.states()["flaky"].status is TaskStatus.RESTARTING)
        assert "blip 1" in supervisor.states()["flaky"].last_error and not supervisor.states()["flaky"].ok
        await wait_for(lambda: len(runs) == 3)
        state = supervisor.states()["flaky"]
        assert state.ok and state.restarts == 2 and "blip 2" in state.last_error
        assert metrics.registry.get_sample_value("lbs_task_restarts_total", {"task": "flaky"}) == 2
        assert metrics.registry.get_sample_value("lbs_task_up", {"task": "flaky"}) == 1
    finally:
        await supervisor.stop()


async def test_a_loop_that_returns_is_dead_and_not_restarted() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    runs: list[int] = []

    async def quits() -> None:
        runs.append(1)

    supervisor.start("quits", quits)
    await wait_for(lambda: supervisor.states()["quits"].status is TaskStatus.DEAD)
    await asyncio.sleep(0.3)  # longer than the first back-off: no restart
    assert runs == [1] and "dead" in supervisor.states()["quits"].describe()
    assert metrics.registry.get_sample_value("lbs_task_up", {"task": "quits"}) == 0
    await supervisor.stop()


async def test_stop_cancels_without_counting_a_failure() -> None:
    supervisor = Supervisor()

    async def forever() -> None:
        await asyncio.Event().wait()

    supervisor.start("forever", forever)
    await asyncio.sleep(0)
    await supervisor.stop()
    assert supervisor.states()["forever"].restarts == 0


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyError("x"), OSError("gone")])
async def test_any_exception_is_restarted(error: Exception) -> None:
    supervisor = Supervisor()
    runs: list[int] = []

    async def fails_once() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise error
        await asyncio.Event().wait()

    supervisor.start("t", fails_once)
    try:
        await wait_for(lambda: len(runs) == 2)
        assert supervisor.states()["t"].restarts == 1
    finally:
        await supervisor.stop()
