"""The engine with presence in Redis (real server) and in memory: same transitions either way."""

from __future__ import annotations

import asyncio

import numpy as np
import redis.asyncio as aioredis
from redis.cluster import key_slot

from geofences.bulk import DETECTS, PairTable, evaluate
from geofences.engine import Engine
from geofences.index import FenceIndex
from geofences.model import Circle, Fence
from geofences.presence import Presence, PresenceStore, decode_state, encode_state, parse_hash, presence_key
from geofences.transitions import Detect, FenceState, Hysteresis, Report, Transition
from tests.geofences.test_index import random_fences
from tests.geofences.test_transitions import east

MSISDN = "+32470000001"


def engine() -> Engine:
    index = FenceIndex()
    index.rebuild([Fence(1, Circle(4.0, 50.0, 200)), Fence(2, Circle(4.0, 50.0, 1000), dwell_s=60)])
    return Engine(index, Hysteresis(max_margin_m=50, confirm_reports=2))


def walk(msisdn: str, xs: list[float], t0: float = 0.0, step_s: float = 30.0) -> list[Report]:
    return [Report(msisdn, east(x), 50.0, 10.0, t0 + i * step_s) for i, x in enumerate(xs)]


def test_state_codec_and_key() -> None:
    state = FenceState(True, 1732520000.125, 1, True)
    assert decode_state(encode_state(state)) == state
    assert presence_key(MSISDN) == "gf:{+32470000001}:p"
    # everything about one subscriber in one Redis Cluster hash slot
    assert key_slot(presence_key(MSISDN).encode()) == key_slot(b"{+32470000001}:anything")
    p = parse_hash(MSISDN, {b"_t": b"12.5", b"7": b"1|3.0|0|0"})
    assert p.last_at == 12.5 and p.states == {7: FenceState(True, 3.0)}


async def test_process_with_redis_enter_dwell_exit(redis_client: aioredis.Redis) -> None:
    store = PresenceStore(redis_client, ttl_s=3600)
    eng = engine()
    out = await eng.process(store, walk(MSISDN, [3000, 600, 100, 100, 100, 600, 3000]))
    assert [(t.fence_id, t.detect, t.at) for t in out] == [
        (2, Detect.ENTER, 30.0),
        (1, Detect.ENTER, 60.0),
        (2, Detect.DWELL, 90.0),
        (1, Detect.EXIT, 150.0),
        (2, Detect.EXIT, 180.0),
    ]
    assert await store.inside(MSISDN) == {}
    assert 0 < await redis_client.ttl(presence_key(MSISDN)) <= 3600


async def test_replayed_and_late_reports_are_ignored(redis_client: aioredis.Redis) -> None:
    store = PresenceStore(redis_client, ttl_s=3600)
    eng = engine()
    reports = walk(MSISDN, [3000, 100])
    first = await eng.process(store, reports)
    assert [t.detect for t in first] == [Detect.ENTER, Detect.ENTER]
    assert await eng.process(store, reports) == []  # a stream entry delivered twice
    assert await eng.process(store, walk(MSISDN, [3000], t0=-10)) == []  # older than what we have
    assert set(await store.inside(MSISDN)) == {1, 2}


async def test_batch_with_several_subscribers_and_reports_out_of_order(redis_client: aioredis.Redis) -> None:
    store = PresenceStore(redis_client, ttl_s=3600)
    eng = engine()
    a, b = walk("+32470000001", [3000, 100, 3000]), walk("+32470000002", [100, 100])
    mixed = [a[2], b[1], a[0], b[0], a[1]]
    out = await eng.process(store, mixed)
    assert [(t.msisdn, t.fence_id, t.detect) for t in out] == [
        ("+32470000001", 1, Detect.ENTER),
        ("+32470000001", 2, Detect.ENTER),
        ("+32470000001", 1, Detect.EXIT),
        ("+32470000001", 2, Detect.EXIT),
        ("+32470000002", 1, Detect.ENTER),
        ("+32470000002", 2, Detect.ENTER),
    ]


async def test_compare_and_set_loser_retries(redis_client: aioredis.Redis) -> None:
    store = PresenceStore(redis_client, ttl_s=3600)
    eng = engine()
    (stale,) = await store.load([MSISDN])
    await eng.process(store, walk(MSISDN, [100]))
    assert await store.save([(stale, 5.0, {1: None}, [])]) == [False]  # _t moved: refused
    assert set(await store.inside(MSISDN)) == {1, 2}
    # two workers racing on one subscriber: every transition once
    results = await asyncio.gather(
        eng.process(store, walk(MSISDN, [3000], t0=100)), eng.process(store, walk(MSISDN, [3000], t0=100))
    )
    exits = [t for r in results for t in r]
    assert sorted(t.fence_id for t in exits) == [1, 2]
    await store.forget(MSISDN)
    assert await redis_client.exists(presence_key(MSISDN)) == 0


def reference(eng: Engine, states: dict[int, dict[int, FenceState]], reports: list[Report]) -> list[Transition]:
    """Per-report semantics (transitions.advance), the oracle of the numpy path."""
    out: list[Transition] = []
    for report, hits in zip(reports, eng.hits(reports), strict=True):
        s = int(report.msisdn)
        changes, transitions, _ = eng.apply_reports(Presence(report.msisdn, "", states.get(s, {})), [(report, hits)])
        merged = {**states.get(s, {}), **changes}
        states[s] = {f: v for f, v in merged.items() if v is not None}
        out += transitions
    return out


def test_bulk_numpy_path_equals_per_report_semantics() -> None:
    fences = random_fences(21, 400)
    fences = [Fence(f.id, f.shape, dwell_s=120.0 if f.id % 5 == 0 else None) for f in fences]
    index = FenceIndex()
    index.rebuild(fences)
    eng = Engine(index, Hysteresis(max_margin_m=50, confirm_reports=2))
    rng = np.random.default_rng(22)
    subscribers, rounds = 300, 12
    lon, lat = rng.uniform(4.0, 4.4, subscribers), rng.uniform(50.5, 50.9, subscribers)
    table = PairTable.empty(subscribers)
    bulk: list[Transition] = []
    expected: list[Transition] = []
    states: dict[int, dict[int, FenceState]] = {}
    sub = np.arange(subscribers, dtype=np.int64)
    names = [str(s) for s in range(subscribers)]
    for r in range(rounds):
        if r == 6:  # live edits between rounds: a fence removed, one added, one moved
            index.remove(3)
            index.upsert(Fence(9999, fences[10].shape))
            index.upsert(Fence(12, fences[40].shape, dwell_s=60.0))
        lon, lat = lon + rng.normal(0, 0.004, subscribers), lat + rng.normal(0, 0.003, subscribers)
        acc = rng.uniform(0, 80, subscribers)
        acc[::17] = np.nan  # unknown accuracy: the largest margin
        at = np.full(subscribers, 60.0 * r)
        table, events = evaluate(index, eng.hysteresis, table, sub, lon, lat, acc, at)
        bulk += events.transitions(names, lon, lat, at)
        reports = [Report(names[s], lon[s], lat[s], acc[s], 60.0 * r) for s in range(subscribers)]
        expected += reference(eng, states, reports)
    assert bulk == expected
    assert len(bulk) > 100
    assert {t.detect for t in bulk} == set(DETECTS)
    inside = {(s, f) for s, st_ in states.items() for f, v in st_.items() if v.inside}
    subs, fids = table.rows()
    assert {(int(s), int(f)) for s, f, i in zip(subs, fids, table.inside, strict=True) if i} == inside


def test_bulk_with_repeated_subscriber_and_stale_reports() -> None:
    eng = engine()
    xs = [3000.0, 100.0, 100.0, 3000.0, 100.0]
    at = np.array([0.0, 30.0, 90.0, 120.0, 60.0])  # the last one is older than what came before it
    table, events = evaluate(
        eng.index,
        eng.hysteresis,
        PairTable.empty(1),
        np.zeros(5, dtype=np.int64),
        np.array([east(x) for x in xs]),
        np.full(5, 50.0),
        np.full(5, 10.0),
        at,
    )
    got = [(int(r), int(f), DETECTS[c]) for r, f, c in zip(events.report, events.fence_id, events.code, strict=True)]
    assert got == [
        (1, 1, Detect.ENTER),
        (1, 2, Detect.ENTER),
        (2, 2, Detect.DWELL),
        (3, 1, Detect.EXIT),
        (3, 2, Detect.EXIT),
    ]
    assert len(table) == 0 and table.last_at[0] == 120.0
