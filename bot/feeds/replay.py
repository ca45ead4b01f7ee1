"""Replay feed: bundled (or user) 8h bars → ``MarketSnapshot``s in time order.

At a bar's open time ``t`` the bot sees: the open as last/mark price; bid/ask from the spread model; the range
(high/low) of the bar that *just finished* (no look-ahead); for perps, the funding rate settled at ``t`` (SOURCE.md)
as a ``FundingSettlement`` and as the rate in force; the venue's spot open as the perp's index; and a rolling
realized volatility of bar-to-bar log returns, annualized.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

from bot.domain import NS_PER_SEC, SECS_PER_YEAR, FundingSettlement, Instrument, MarketBatch, MarketSnapshot
from bot.feeds.bars import Bar, BarSet


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """Half-spread = fixed bps + ``range_coef`` × the last bar's relative range (wider when it moved more)."""

    half_spread_bps_spot: float = 1.0
    half_spread_bps_perp: float = 0.5
    range_coef: float = 0.01

    def half_spread(self, kind: str, price: float, last_range_frac: float) -> float:
        bps = self.half_spread_bps_perp if kind == "perp" else self.half_spread_bps_spot
        return price * (bps * 1e-4 + self.range_coef * last_range_frac)


class _Series:
    """Per-instrument running state: last bar and a rolling window of log returns."""

    __slots__ = ("prev", "rets", "sum", "sumsq", "window", "ann")

    def __init__(self, window: int, bar_secs: int) -> None:
        self.prev: Bar | None = None
        self.rets: deque[float] = deque()
        self.sum = 0.0
        self.sumsq = 0.0
        self.window = window
        self.ann = math.sqrt(SECS_PER_YEAR / bar_secs)

    def push(self, bar: Bar) -> float | None:
        """Record ``bar``; return the annualized realized volatility over the window, if full."""
        prev = self.prev
        self.prev = bar
        if prev is None:
            return None
        r = math.log(bar.open / prev.open)
        self.rets.append(r)
        self.sum += r
        self.sumsq += r * r
        if len(self.rets) > self.window:
            old = self.rets.popleft()
            self.sum -= old
            self.sumsq -= old * old
        n = len(self.rets)
        if n < self.window:
            return None
        var = (self.sumsq - self.sum * self.sum / n) / (n - 1)
        return math.sqrt(var) * self.ann if var > 0 else 0.0


class ReplayFeed:
    """Plays a ``BarSet`` as batches of snapshots, one batch per bar timestamp."""

    def __init__(self, bars: BarSet, instruments: Mapping[str, Instrument], spread: SpreadModel | None = None,
                 vol_window: int = 21, bar_secs: int = 8 * 3600) -> None:
        self.instruments = instruments
        self.data_version = bars.data_version
        self.rejected_rows = bars.rejected
        self._bars = bars.bars
        self._spread = spread or SpreadModel()
        self._vol_window = vol_window
        self._bar_secs = bar_secs
        # (venue, base, kind) -> instrument id, decided once
        self._ids: dict[tuple[str, str, str], str] = {}
        for inst in instruments.values():
            self._ids[(inst.venue, inst.base, "perp" if inst.is_derivative else "spot")] = inst.id

    @property
    def n_bars(self) -> int:
        return len(self._bars)

    @property
    def ts_range_ns(self) -> tuple[int, int]:
        if not self._bars:
            return (0, 0)
        return self._bars[0].ts * NS_PER_SEC, self._bars[-1].ts * NS_PER_SEC

    def iter_batches(self) -> Iterator[MarketBatch]:
        """Synchronous generator of batches (the async ``batches`` wraps it)."""
        series: dict[str, _Series] = {}
        spread = self._spread
        interval = self._bar_secs
        bars = self._bars
        ids = self._ids
        i, n = 0, len(bars)
        while i < n:
            ts = bars[i].ts
            j = i
            while j < n and bars[j].ts == ts:
                j += 1
            group = bars[i:j]
            i = j
            spot_open = {b.venue + b.base: b.open for b in group if b.kind == "spot"}
            ts_ns = ts * NS_PER_SEC
            snaps: list[MarketSnapshot] = []
            for bar in group:
                iid = ids.get((bar.venue, bar.base, bar.kind))
                if iid is None:
                    continue
                st = series.get(iid)
                if st is None:
                    st = series[iid] = _Series(self._vol_window, interval)
                prev = st.prev
                vol = st.push(bar)
                if prev is not None and prev.ts == ts - interval:
                    r_high, r_low = prev.high, prev.low
                    range_frac = (prev.high - prev.low) / prev.open
                else:
                    r_high = r_low = None
                    range_frac = 0.0
                half = spread.half_spread(bar.kind, bar.open, range_frac)
                if bar.kind == "perp":
                    rate = bar.funding_rate
                    snaps.append(MarketSnapshot(
                        iid, ts_ns, bar.open - half, bar.open + half, bar.open, bar.open,
                        index=spot_open.get(bar.venue + bar.base), range_high=r_high, range_low=r_low,
                        volume=bar.volume, funding_rate=rate, funding_interval_secs=interval,
                        ts_next_funding_ns=ts_ns + interval * NS_PER_SEC,
                        settlement=FundingSettlement(ts_ns, rate) if rate is not None else None,
                        realized_vol=vol))
                else:
                    snaps.append(MarketSnapshot(
                        iid, ts_ns, bar.open - half, bar.open + half, bar.open, bar.open, index=bar.open,
                        range_high=r_high, range_low=r_low, volume=bar.volume, realized_vol=vol))
            yield MarketBatch(ts_ns, tuple(snaps))

    async def batches(self) -> AsyncIterator[MarketBatch]:
        for batch in self.iter_batches():
            yield batch
