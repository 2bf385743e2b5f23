"""The engine: positions in, transitions out, presence in Redis (the durable truth the workers share).

The index answers a whole batch at once; then each subscriber's reports are applied in time order with
:func:`~geofences.transitions.advance`, with one pipelined load and one pipelined compare-and-set save per batch.
The all-numpy path for presence held in process is :mod:`geofences.bulk`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from geofences.index import FenceIndex
from geofences.presence import Presence, PresenceStore
from geofences.transitions import Changes, FenceState, Hysteresis, Report, Transition, advance, apply

MAX_SAVE_ATTEMPTS = 5  # compare-and-set retries when another worker changed the same subscriber meanwhile


class Engine:
    """A fence index plus the hysteresis rule."""

    def __init__(self, index: FenceIndex, hysteresis: Hysteresis | None = None) -> None:
        self.index = index
        self.hysteresis = hysteresis or Hysteresis()

    def dwell_of(self, fence_id: int) -> float | None:
        """The fence's dwell time, if it has one."""
        fence = self.index.get(fence_id)
        return None if fence is None else fence.dwell_s

    def hits(self, reports: Sequence[Report]) -> list[list[int]]:
        """Ids of the fences containing each report."""
        lon = np.fromiter((r.lon for r in reports), np.float64, count=len(reports))
        lat = np.fromiter((r.lat for r in reports), np.float64, count=len(reports))
        rep, fid = self.index.query(lon, lat)
        bounds = np.searchsorted(rep, np.arange(len(reports) + 1))
        ids = fid.tolist()
        return [ids[bounds[i] : bounds[i + 1]] for i in range(len(reports))]

    def apply_reports(
        self, presence: Presence, reports: Sequence[tuple[Report, list[int]]]
    ) -> tuple[Changes, list[Transition], float]:
        """One subscriber's reports (time order) against its stored state: final changes, transitions, last time."""
        states: dict[int, FenceState] = dict(presence.states)
        touched: set[int] = set()
        out: list[Transition] = []
        last = presence.last_at
        for report, hits in reports:
            if report.at <= last:
                continue  # already applied (a replayed stream entry) or out of order
            changes, transitions = advance(
                states,
                hits,
                report,
                self.index.edge_distance_one,
                self.hysteresis,
                self.dwell_of,
                self.index.__contains__,
            )
            states = apply(states, changes)
            touched |= changes.keys()
            out.extend(transitions)
            last = report.at
        return {f: states.get(f) for f in touched}, out, last

    async def process(
        self, store: PresenceStore, reports: Sequence[Report], inside: Counter[int] | None = None
    ) -> list[Transition]:
        """Apply a batch of reports with presence in Redis; returns the transitions (each subscriber's in order).

        The transitions are also in each subscriber's outbox (:meth:`PresenceStore.pending`), committed with the
        state: act on them from there and call :meth:`PresenceStore.done`, so a crash in between loses nothing.
        ``inside`` (optional) counts, per fence, the reports that fell inside it.
        """
        by_subscriber: dict[str, list[tuple[Report, list[int]]]] = defaultdict(list)
        for report, hits in zip(reports, self.hits(reports), strict=True):
            by_subscriber[report.msisdn].append((report, hits))
            if inside is not None:
                inside.update(hits)
        for items in by_subscriber.values():
            items.sort(key=lambda item: item[0].at)
        out: list[Transition] = []
        todo = list(by_subscriber)
        for _ in range(MAX_SAVE_ATTEMPTS):
            if not todo:
                break
            presences = await store.load(todo)
            results = [self.apply_reports(p, by_subscriber[p.msisdn]) for p in presences]
            saved = await store.save([(p, last, ch, tr) for p, (ch, tr, last) in zip(presences, results, strict=True)])
            for ok, (_, transitions, _) in zip(saved, results, strict=True):
                if ok:
                    out.extend(transitions)
            todo = [p.msisdn for p, ok in zip(presences, saved, strict=True) if not ok]
        if todo:
            raise RuntimeError(f"presence kept changing under us for {len(todo)} subscribers")
        return out
