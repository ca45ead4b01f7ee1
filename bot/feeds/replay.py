"""Replay feed: bundled (or user) 8h bars → ``MarketSnapshot``s in time order.

At a bar's open time ``t`` the bot sees: the open as last/mark price; bid/ask from the spread model; the range
(high/low) of the bar that *just finished* (no look-ahead); for perps, the funding rate settled at ``t`` (SOURCE.md)
as a ``FundingSettlement`` and as the rate in force; the venue's spot open as the perp's index. Volatility and
the other risk signals are the governor's to compute (``bot/governor/signals.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

from bot.domain import NS_PER_SEC, FundingSettlement, Instrument, MarketBatch, MarketSnapshot
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


def infer_bar_secs(bars: tuple[Bar, ...], default: int = 8 * 3600) -> int:
    """The bar length: the smallest step between consecutive bars of one series (8 h when nothing says)."""
    last: dict[tuple[str, str, str], int] = {}
    step = 0
    for b in bars:
        key = (b.venue, b.base, b.kind)
        prev = last.get(key)
        if prev is not None and b.ts > prev and (step == 0 or b.ts - prev < step):
            step = b.ts - prev
        last[key] = b.ts
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
        self._bars = bars.bars
        self._spread = spread or SpreadModel()
        self._bar_secs = bar_secs or infer_bar_secs(bars.bars)
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
    def bars(self) -> tuple[Bar, ...]:
        """The bars played, in time order (the report's yardstick reads their funding)."""
        return self._bars

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
        prevs: dict[str, Bar] = {}
        spread = self._spread
        interval = self._bar_secs
        bars = self._bars
        ids = self._ids
        insts = self.instruments
        settled: dict[str, float] = {}  # the last settled rate per perp: the rate in force between settlements
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
                prev = prevs.get(iid)
                prevs[iid] = bar
                r_high: float | None
                r_low: float | None
                if prev is not None and prev.ts == ts - interval:
                    r_high, r_low = prev.high, prev.low
                    range_frac = (prev.high - prev.low) / prev.open
                else:
                    r_high = r_low = None
                    range_frac = 0.0
                half = spread.half_spread(bar.kind, bar.open, range_frac)
                bid, ask, px = bar.open - half, bar.open + half, bar.open
                if bar.kind == "perp":  # positional: this is the replay's hot loop (field order of MarketSnapshot)
                    rate = bar.funding_rate
                    f_secs = insts[iid].funding_interval_secs or interval
                    if rate is not None:
                        settled[iid] = rate
                        settle: FundingSettlement | None = FundingSettlement(ts_ns, rate)
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
                            spot_open.get(bar.venue + bar.base),
                            r_high,
                            r_low,
                            bar.volume,
                            rate,
                            None,
                            f_secs,
                            (ts // f_secs + 1) * f_secs * NS_PER_SEC,
                            settle,
                        )
                    )
                else:
                    snaps.append(MarketSnapshot(iid, ts_ns, bid, ask, px, px, px, r_high, r_low, bar.volume))
            yield MarketBatch(ts_ns, tuple(snaps))

    async def batches(self) -> AsyncIterator[MarketBatch]:
        for batch in self.iter_batches():
            yield batch
