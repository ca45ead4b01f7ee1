"""The moment inside a coarse bar at which a simulated resting order filled, shared by the paper venues.

A post-only lead leg resting at L fills when a later bar's range trades through L: at some moment inside that bar,
not at its open. A hedge sent on that fill would, on a live venue, trade within milliseconds of it, at the price the
hedge instrument had *then*. The paper venues do not see inside the bar, so they take the pair's own relative price
at this bar: the hedge instrument then stood at its current price × (L / the lead instrument's current mid). The
lead's venue records that scale under the fill's key (``Fill.key``); the hedge's venue (the same or another paper
venue) fills the marketable hedge at its touch × that scale, in the same bar only. Live venues never see this: it is
the simulator's.
"""

from __future__ import annotations


class IntrabarMoments:
    def __init__(self) -> None:
        self._scale: dict[str, tuple[int, float]] = {}  # fill key -> (bar ts, price scale)

    def record(self, key: str, bar_ts_ns: int, scale: float) -> None:
        stale = [k for k, (ts, _) in self._scale.items() if ts < bar_ts_ns]  # only the current bar's are useful
        for k in stale:
            del self._scale[k]
        self._scale[key] = (bar_ts_ns, scale)

    def scale_for(self, key: str, bar_ts_ns: int) -> float | None:
        """The scale for a hedge of fill ``key`` priced on a book of bar ``bar_ts_ns`` (None in a later bar)."""
        got = self._scale.get(key)
        if got is None or got[0] != bar_ts_ns:
            return None
        return got[1]
