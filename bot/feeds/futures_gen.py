"""Synthetic dated futures for S3 on the bundled history, which has no dated-futures prices.

Quarterly USDT-margined contracts are derived from each venue's *real* spot series, with *real* expiry times (the
G4 calendar: 08:00 UTC on the last Friday of March, June, September, December). The annualized basis follows a
mean-reverting (Ornstein–Uhlenbeck) path, seeded per contract, and the price is ``F = S × (1 + b × T_days / 365)``, so
``(F − S) / S × 365 / T_days = b`` exactly and F converges to S at expiry. Every generated instrument carries
``synthetic=True`` and a ``SYN`` symbol suffix; reports and metrics say so.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from bot.domain import NS_PER_SEC, Instrument, InstrumentKind, MarketBatch, MarketSnapshot
from bot.feeds.bars import Bar
from bot.feeds.replay import ReplayFeed
from bot.governor.calendar import QUARTER_MONTHS, venue_quarterly_expiry
from bot.settings import FuturesSettings
from bot.venues.fees import PERP_FEES, PERP_MAINTENANCE, QTY_STEP

YEAR_NS = 365 * 86_400 * NS_PER_SEC
LISTING_DAYS = 190  # a quarterly is listed about two quarters before it expires


def quarterly_expiries_ns(start_ns: int, end_ns: int) -> list[int]:
    """Expiry times (ns) of the quarterlies that trade at some point in [start, end]."""
    first = datetime.fromtimestamp(start_ns / NS_PER_SEC, UTC).year
    last = datetime.fromtimestamp(end_ns / NS_PER_SEC, UTC).year + 1
    out = []
    for y in range(first, last + 1):
        for m in QUARTER_MONTHS:
            t = int(venue_quarterly_expiry(y, m).timestamp()) * NS_PER_SEC
            if t >= start_ns and t - LISTING_DAYS * 86_400 * NS_PER_SEC <= end_ns:
                out.append(t)
    return out


def futures_instruments(
    venues: tuple[str, ...], bases: tuple[str, ...], start_ns: int, end_ns: int
) -> dict[str, Instrument]:
    out = {}
    for t in quarterly_expiries_ns(start_ns, end_ns):
        tag = datetime.fromtimestamp(t / NS_PER_SEC, UTC).strftime("%y%m%d")
        for venue in venues:
            for base in bases:
                step = QTY_STEP.get(base, QTY_STEP["BTC"])
                inst = Instrument(
                    venue=venue,
                    symbol=f"{base}/USDT:USDT-{tag}-SYN",
                    kind=InstrumentKind.FUTURE,
                    base=base,
                    quote="USDT",
                    fees=PERP_FEES[venue],
                    qty_step=step,
                    min_qty=step,
                    maintenance_margin_rate=PERP_MAINTENANCE[venue],
                    ts_expiry_ns=t,
                    synthetic=True,
                )
                out[inst.id] = inst
    return out


class _Basis:
    """One contract's OU path of the annualized basis, advanced per bar."""

    __slots__ = ("b", "rng", "cfg")

    def __init__(self, name: str, seed: int, cfg: FuturesSettings) -> None:
        self.rng = random.Random(seed ^ zlib.crc32(name.encode()))
        self.cfg = cfg
        self.b = cfg.mean_basis_apr + self.rng.gauss(0.0, cfg.basis_vol_apr / math.sqrt(2 * cfg.reversion_per_year))

    def step(self, dt_years: float) -> float:
        c = self.cfg
        self.b += c.reversion_per_year * (c.mean_basis_apr - self.b) * dt_years + c.basis_vol_apr * math.sqrt(
            dt_years
        ) * self.rng.gauss(0.0, 1.0)
        return self.b


class SyntheticFuturesFeed:
    """Wraps a replay feed and adds the listed quarterlies' snapshots to each batch."""

    def __init__(self, feed: ReplayFeed, cfg: FuturesSettings, spot_instruments: Mapping[str, Instrument]) -> None:
        self._feed = feed
        self._cfg = cfg
        start, end = feed.ts_range_ns
        venues = tuple(sorted({i.venue for i in spot_instruments.values()}))
        bases = tuple(sorted({i.base for i in spot_instruments.values()}))
        self.futures = futures_instruments(venues, bases, start, end)
        self.instruments = dict(feed.instruments) | self.futures
        self.data_version = f"{feed.data_version}+syn{cfg.seed}"
        self.rejected_rows = feed.rejected_rows
        self.n_bars = feed.n_bars
        self.ts_range_ns = feed.ts_range_ns
        self._spot_of = {(i.venue, i.base): i.id for i in spot_instruments.values() if i.kind is InstrumentKind.SPOT}
        self._by_pair: dict[str, list[Instrument]] = {}
        for f in sorted(self.futures.values(), key=lambda i: i.ts_expiry_ns or 0):
            self._by_pair.setdefault(self._spot_of[(f.venue, f.base)], []).append(f)

    @property
    def step_secs(self) -> float:
        return self._feed.step_secs

    @property
    def bars(self) -> Sequence[Bar]:
        return self._feed.bars

    def iter_batches(self) -> Iterator[MarketBatch]:
        listing_ns = LISTING_DAYS * 86_400 * NS_PER_SEC
        paths: dict[str, _Basis] = {}
        last_ts: dict[str, int] = {}
        for batch in self._feed.iter_batches():
            extra: list[MarketSnapshot] = []
            for s in batch.snapshots:
                futures = self._by_pair.get(s.instrument_id)
                if not futures:
                    continue
                for f in futures:
                    expiry = f.ts_expiry_ns or 0
                    if not expiry - listing_ns <= s.ts_ns <= expiry:
                        continue
                    path = paths.get(f.id)
                    if path is None:
                        path = paths[f.id] = _Basis(f.id, self._cfg.seed, self._cfg)
                    dt = (s.ts_ns - last_ts.get(f.id, s.ts_ns)) / YEAR_NS
                    last_ts[f.id] = s.ts_ns
                    b = path.step(dt) if dt > 0 else path.b
                    t_days = (expiry - s.ts_ns) / (86_400 * NS_PER_SEC)
                    k = 1.0 + b * t_days / 365.0
                    price = s.mid * k
                    half = (s.ask - s.bid) / 2 * k
                    extra.append(
                        replace(
                            s,
                            instrument_id=f.id,
                            bid=price - half,
                            ask=price + half,
                            last=price,
                            mark=price,
                            index=s.mid,
                            range_high=None if s.range_high is None else s.range_high * k,
                            range_low=None if s.range_low is None else s.range_low * k,
                            funding_rate=None,
                            funding_interval_secs=None,
                            ts_next_funding_ns=None,
                            settlement=None,
                            ts_expiry_ns=expiry,
                        )
                    )
            yield MarketBatch(batch.ts_ns, batch.snapshots + tuple(extra)) if extra else batch

    async def batches(self) -> AsyncIterator[MarketBatch]:
        for batch in self.iter_batches():
            yield batch
