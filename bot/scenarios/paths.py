"""Scripted market paths: hourly snapshots of Binance and Bybit BTC spot and perpetual, with funding settling every
8 h, open interest, long liquidations, options skew and outages. Each bar is written as a ``Bar`` spec and turned into
``MarketBatch``es here; the scenarios in ``catalog.py`` only say what the market does."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.domain import NS_PER_SEC, FundingSettlement, MarketBatch, MarketSnapshot

HOUR = 3600
VENUES = ("binance", "bybit")
SPOT = {v: f"{v}:BTC/USDT" for v in VENUES}
PERP = {v: f"{v}:BTC/USDT:USDT" for v in VENUES}


@dataclass(slots=True)
class Bar:
    """One hour of the market. ``perp_premium`` moves the perps away from spot (a gap on one leg); ``down`` lists
    instrument ids whose feed is silent this hour."""

    price: float
    funding: float = 0.0003  # per 8 h, in force and settled at 00/08/16 UTC
    oi: float = 1e9
    liq_long_usd: float = 1e6
    skew: float = 0.02
    perp_premium: float = 0.0
    range_pct: float = 0.002
    down: set[str] = field(default_factory=set)
    funding_by_venue: dict[str, float] = field(default_factory=dict)  # a venue whose funding differs
    lag_hours: dict[str, int] = field(default_factory=dict)  # instrument id -> its snapshot arrives this much late
    spike: dict[str, float] = field(default_factory=dict)  # instrument id -> a broken print: its prices × this


def warmup(hours: int, price: float = 60_000.0, funding: float = 0.0003) -> list[Bar]:
    """A calm market with rich funding (≈33%/yr): S1 enters on both venues."""
    return [Bar(price * (1 + 0.001 * math.sin(k / 3)), funding) for k in range(hours)]


def to_batches(bars: list[Bar], start_s: int) -> list[MarketBatch]:
    out = []
    prev: Bar | None = None
    for k, b in enumerate(bars):
        ts = start_s + k * HOUR
        ts_ns = ts * NS_PER_SEC
        settle = ts % (8 * HOUR) == 0
        next_ns = (ts // (8 * HOUR) + 1) * 8 * HOUR * NS_PER_SEC
        lo_p = min(b.price, prev.price if prev else b.price)
        hi_p = max(b.price, prev.price if prev else b.price)
        snaps: list[MarketSnapshot] = []
        for v in VENUES:
            half = b.price * 5e-5
            spot = MarketSnapshot(
                SPOT[v],
                ts_ns,
                b.price - half,
                b.price + half,
                b.price,
                b.price,
                b.price,
                hi_p * (1 + b.range_pct),
                lo_p * (1 - b.range_pct),
                1e3,
            )
            perp_px = b.price * (1 + b.perp_premium)
            rate = b.funding_by_venue.get(v, b.funding)
            prev_perp = prev.price * (1 + prev.perp_premium) if prev else perp_px
            perp = MarketSnapshot(
                PERP[v],
                ts_ns,
                perp_px - half,
                perp_px + half,
                perp_px,
                perp_px,
                b.price,
                max(perp_px, prev_perp) * (1 + b.range_pct),
                min(perp_px, prev_perp) * (1 - b.range_pct),
                1e3,
                rate,
                rate,
                8 * HOUR,
                next_ns,
                FundingSettlement(ts_ns, rate) if settle else None,
                open_interest=b.oi,
                liq_long_usd=b.liq_long_usd,
                liq_short_usd=1e6,
                skew_25d=b.skew,
            )
            for s in (spot, perp):
                if s.instrument_id in b.down:
                    continue
                x = b.spike.get(s.instrument_id)
                snaps.append(
                    s
                    if x is None
                    else replace(
                        s,
                        bid=s.bid * x,
                        ask=s.ask * x,
                        last=s.last * x,
                        mark=s.mark * x,
                        range_high=(s.range_high or s.mark) * x,
                        range_low=(s.range_low or s.mark) * x,
                    )
                )
        out.append(MarketBatch(ts_ns, tuple(snaps)))
        prev = b
    # a lagging feed delivers, at each hour, what it should have delivered ``lag`` hours earlier
    by_hour = [{s.instrument_id: s for s in batch.snapshots} for batch in out]
    for k, b in enumerate(bars):
        if b.lag_hours:
            snaps_k = [s for s in out[k].snapshots if s.instrument_id not in b.lag_hours]
            for iid, lag in b.lag_hours.items():
                old = by_hour[k - lag].get(iid) if k >= lag else None
                if old is not None:
                    snaps_k.append(old)
            out[k] = MarketBatch(out[k].ts_ns, tuple(snaps_k))
    return out


def ramp(n: int, f: Callable[[float], Bar]) -> list[Bar]:
    """``n`` bars from ``f(t)`` with t going 1/n … 1."""
    return [f((k + 1) / n) for k in range(n)]


def with_(bar: Bar, **kw: object) -> Bar:
    return replace(bar, **kw)  # type: ignore[arg-type]
