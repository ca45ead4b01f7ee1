"""Replay feed: bundled (or user) 8h bars → ``MarketSnapshot``s in time order.

At a bar's open time ``t`` the bot sees: the open as last/mark price; bid/ask from the spread model; the range
(high/low) of the bar that *just finished* (no look-ahead); for perps, the funding rate settled at ``t`` (SOURCE.md)
as a ``FundingSettlement`` and as the rate in force; the venue's spot open as the perp's index. Volatility and
the other risk signals are the governor's to compute (``bot/governor/signals.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass

from bot.domain import NS_PER_SEC, FundingSettlement, Instrument, MarketBatch, MarketSnapshot
from bot.feeds.bar_store import Bar, BarColumns, BarStore, as_store
from bot.feeds.bars import BarSet
from bot.feeds.base import AsyncBatches


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """Half-spread = fixed bps + ``range_coef`` × the last bar's relative range (wider when it moved more)."""

    half_spread_bps_spot: float = 1.0
    half_spread_bps_perp: float = 0.5
    range_coef: float = 0.01

    def half_spread(self, kind: str, price: float, last_range_frac: float) -> float:
        bps = self.half_spread_bps_perp if kind == "perp" else self.half_spread_bps_spot
        return price * (bps * 1e-4 + self.range_coef * last_range_frac)


def infer_bar_secs(bars: Sequence[Bar], default: int = 8 * 3600) -> int:
    """The bar length: the smallest step between consecutive bars of one series (8 h when nothing says)."""
    last: dict[int, int] = {}
    step = 0
    for cols in as_store(bars).chunks():
        for sid, ts in zip(cols.sid, cols.ts, strict=True):
            prev = last.get(sid)
            if prev is not None and ts > prev and (step == 0 or ts - prev < step):
                step = ts - prev
            last[sid] = ts
    return step or default


class ReplayFeed:
    """Plays a ``BarSet`` as batches of snapshots, one batch per bar timestamp."""

    def __init__(
        self,
        bars: BarSet,
        instruments: Mapping[str, Instrument],
        spread: SpreadModel | None = None,
        bar_secs: int | None = None,
    ) -> None:
        self.instruments = instruments
        self.data_version = bars.data_version
        self.rejected_rows = bars.rejected
        self._bars = as_store(bars.bars)
        self._spread = spread or SpreadModel()
        self._bar_secs = bar_secs or infer_bar_secs(self._bars)
        # (venue, base, kind) -> instrument id, decided once
        self._ids: dict[tuple[str, str, str], str] = {}
        for inst in instruments.values():
            self._ids[(inst.venue, inst.base, "perp" if inst.is_derivative else "spot")] = inst.id

    @property
    def bar_secs(self) -> int:
        return self._bar_secs

    @property
    def step_secs(self) -> float:
        return float(self._bar_secs)

    @property
    def bars(self) -> BarStore:
        """The bars played, in time order (the report's yardstick reads their funding)."""
        return self._bars

    @property
    def n_bars(self) -> int:
        return len(self._bars)

    @property
    def ts_range_ns(self) -> tuple[int, int]:
        bars = self._bars
        if not len(bars):
            return (0, 0)
        return bars[0].ts * NS_PER_SEC, bars[-1].ts * NS_PER_SEC

    def iter_batches(self) -> Iterator[MarketBatch]:
        """Synchronous generator of batches (the async ``batches`` wraps it), read straight off the columns, one
        chunk at a time (a chunk ends with its timestamp: no batch spans two)."""
        store = self._bars
        spread = self._spread
        interval = self._bar_secs
        insts = self.instruments
        # per series: its instrument id (None: not traded), whether a perp, the venue+base key of its spot open
        series = [(self._ids.get(key), key[2] == "perp", key[0] + key[1], key[2]) for key in store.series]
        prev_bar: dict[str, tuple[int, float, float, float]] = {}  # instrument id -> previous (ts, high, low, open)
        settled: dict[str, float] = {}  # the last settled rate per perp: the rate in force between settlements
        for cols in store.chunks():
            yield from self._chunk_batches(cols, series, prev_bar, settled, spread, interval, insts)

    @staticmethod
    def _chunk_batches(
        cols: BarColumns,
        series: list[tuple[str | None, bool, str, str]],
        prev_bar: dict[str, tuple[int, float, float, float]],
        settled: dict[str, float],
        spread: SpreadModel,
        interval: int,
        insts: Mapping[str, Instrument],
    ) -> Iterator[MarketBatch]:
        sids, tss, opens, highs, lows = cols.sid, cols.ts, cols.open, cols.high, cols.low
        vols, fund = cols.volume, cols.funding
        i, n = 0, len(tss)
        while i < n:
            ts = tss[i]
            j = i
            while j < n and tss[j] == ts:
                j += 1
            spot_open = {series[sids[k]][2]: opens[k] for k in range(i, j) if not series[sids[k]][1]}
            ts_ns = ts * NS_PER_SEC
            snaps: list[MarketSnapshot] = []
            for k in range(i, j):
                iid, is_perp, vb, kind = series[sids[k]]
                if iid is None:
                    continue
                px = opens[k]
                p = prev_bar.get(iid)
                prev_bar[iid] = (ts, highs[k], lows[k], px)
                r_high: float | None
                r_low: float | None
                if p is not None and p[0] == ts - interval:
                    r_high, r_low = p[1], p[2]
                    range_frac = (r_high - r_low) / p[3]
                else:
                    r_high = r_low = None
                    range_frac = 0.0
                half = spread.half_spread(kind, px, range_frac)
                bid, ask = px - half, px + half
                if is_perp:  # positional: this is the replay's hot loop (field order of MarketSnapshot)
                    f = fund[k]
                    f_secs = insts[iid].funding_interval_secs or interval
                    rate: float | None
                    if f == f:  # a settlement at this bar (NaN: none)
                        rate = settled[iid] = f
                        settle: FundingSettlement | None = FundingSettlement(ts_ns, f)
                    else:
                        rate = settled.get(iid)
                        settle = None
                    snaps.append(
                        MarketSnapshot(
                            iid,
                            ts_ns,
                            bid,
                            ask,
                            px,
                            px,
                            spot_open.get(vb),
                            r_high,
                            r_low,
                            vols[k],
                            rate,
                            None,
                            f_secs,
                            (ts // f_secs + 1) * f_secs * NS_PER_SEC,
                            settle,
                        )
                    )
                else:
                    snaps.append(MarketSnapshot(iid, ts_ns, bid, ask, px, px, px, r_high, r_low, vols[k]))
            i = j
            yield MarketBatch(ts_ns, tuple(snaps))

    def batches(self) -> AsyncIterator[MarketBatch]:
        return AsyncBatches(self.iter_batches())
