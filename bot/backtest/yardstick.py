"""The yardstick (SPEC §6, issue 14): what the run earned against what doing nothing and what perfect foresight
would have earned with the same money at work, on equity, price PnL included.

- **Average perp notional** N: the time average, over the whole run, of Σ |perp quantity × mark| (exact at every
  tick, not sampled).
- **Passive benchmark**: N spread evenly over every spot–perp pair the data has, held 1x hedged (long spot, short
  perp, the same notional, kept at N) from the first bar to the last: every funding settlement after the first bar,
  the price PnL of the two legs bar by bar (the basis moves), net of one round trip of the venue's taker fees on
  both legs.
- **Ceiling**: the same notional-time (average notional × window) with perfect foresight and no fees, placed on
  the richest settlements first (at most the largest notional the run held on one pair, per pair at a time),
  collecting only settlements a position could earn (after the first bar) and only in the directions the strategy
  may trade (received funding; paid funding too when a borrow source makes the reverse trade possible).
- **Capture on equity**: the run's equity change over each.
- **Utilization**: 1 − the time average of the venue accounts' idle capital over the time average of equity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain import Instrument, InstrumentKind


def _pair_ids(instruments: Mapping[str, Instrument]) -> dict[tuple[str, str], tuple[Instrument, Instrument]]:
    spot = {(i.venue, i.base): i for i in instruments.values() if i.kind is InstrumentKind.SPOT}
    out = {}
    for i in instruments.values():
        if i.kind is InstrumentKind.PERP and (i.venue, i.base) in spot:
            out[(i.venue, i.base)] = (spot[(i.venue, i.base)], i)
    return out


def _first_ts(legs: Mapping[Any, Mapping[str, list[tuple[int, float, float | None]]]]) -> list[int]:
    return [min(ts for ts, _, _ in s["perp"]) for s in legs.values()]


def _last_ts(legs: Mapping[Any, Mapping[str, list[tuple[int, float, float | None]]]]) -> list[int]:
    return [max(ts for ts, _, _ in s["perp"]) for s in legs.values()]


def yardstick(
    bars: Iterable[Any],
    instruments: Mapping[str, Instrument],
    avg_perp_notional: float,
    peak_pair_notional: float,
    equity_change: float,
    years: float,
    reverse_allowed: bool,
) -> dict[str, Any] | None:
    """``bars``: the feed's bars (ts, venue, base, kind, open, …, funding_rate), prices at the bar's open as the
    replay marks them. ``None`` when the data has no spot–perp pair."""
    pairs = _pair_ids(instruments)
    series: dict[tuple[str, str], dict[str, list[tuple[int, float, float | None]]]] = {}
    for b in bars:
        if (b.venue, b.base) in pairs and b.kind in ("spot", "perp"):
            series.setdefault((b.venue, b.base), {"spot": [], "perp": []})[b.kind].append(
                (b.ts, b.open, b.funding_rate)
            )
    legs = {k: v for k, v in series.items() if v["spot"] and v["perp"]}
    if not legs:
        return None
    each = avg_perp_notional / len(legs)
    passive = funding = price = fees = 0.0
    slots: list[tuple[float, float, float]] = []  # (yield per second, rate, the interval it was earned over)
    for key, s in sorted(legs.items()):
        spot_i, perp_i = pairs[key]
        sp, pp = dict((ts, px) for ts, px, _ in s["spot"]), sorted(s["perp"])
        prev: tuple[float, float] | None = None
        for ts, px, rate in pp:
            spot_px = sp.get(ts)
            if prev is not None and rate is not None:
                funding += each * rate  # the short perp receives positive funding and pays negative
                earn = abs(rate) if reverse_allowed else max(0.0, rate)
                span = float(perp_i.funding_interval_secs or 8 * 3600)
                if earn > 0:
                    slots.append((earn / span, earn, span))
            if spot_px is not None and spot_px > 0 and px > 0:
                if prev is not None:  # long spot, short perp, both of notional ``each`` at the previous bar
                    price += each * ((spot_px / prev[0] - 1) - (px / prev[1] - 1))
                prev = (spot_px, px)
        fees += each * 2 * (float(spot_i.fees.taker) + float(perp_i.fees.taker))
    passive = funding + price - fees
    # the ceiling: the same notional-time (average notional × the window), placed with perfect foresight on the
    # richest settlements first, at most the largest pair notional the run held on any one pair at a time
    window = max(_last_ts(legs), default=0) - min(_first_ts(legs), default=0)
    budget = avg_perp_notional * window
    cap = max(peak_pair_notional, each)
    ceiling = 0.0
    for _, earn, span in sorted(slots, reverse=True):
        if budget <= 0:
            break
        n = min(cap, budget / span)
        ceiling += n * earn
        budget -= n * span
    per_year = 1.0 / years if years > 0 else 0.0
    return {
        "avg_perp_notional_usd": avg_perp_notional,
        "pairs": len(legs),
        "passive_usd": passive,
        "passive_funding_usd": funding,
        "passive_price_pnl_usd": price,
        "passive_fees_usd": fees,
        "passive_apr_on_notional": passive / avg_perp_notional * per_year if avg_perp_notional else None,
        "ceiling_usd": ceiling,
        "ceiling_apr_on_notional": ceiling / avg_perp_notional * per_year if avg_perp_notional else None,
        "equity_change_usd": equity_change,
        "capture_vs_passive": equity_change / passive if passive > 0 else None,
        "capture_vs_ceiling": equity_change / ceiling if ceiling > 0 else None,
        "beats_passive": equity_change >= passive,
    }


def passive_curve(
    bars: Iterable[Any], instruments: Mapping[str, Instrument], avg_perp_notional: float
) -> list[tuple[int, float]]:
    """The passive benchmark's cumulative PnL over time (Unix seconds, USD): its funding and basis PnL as they come,
    the round trip's fees taken at the start (the same figures as ``yardstick``, for the chart beside the equity)."""
    pairs = _pair_ids(instruments)
    spot: dict[tuple[str, str], dict[int, float]] = {}
    perp: dict[tuple[str, str], list[tuple[int, float, float | None]]] = {}
    for b in bars:
        key = (b.venue, b.base)
        if key in pairs and b.kind == "spot":
            spot.setdefault(key, {})[b.ts] = b.open
        elif key in pairs and b.kind == "perp":
            perp.setdefault(key, []).append((b.ts, b.open, b.funding_rate))
    keys = [k for k in perp if k in spot]
    if not keys:
        return []
    each = avg_perp_notional / len(keys)
    steps: dict[int, float] = {}
    start = float("inf")
    for key in keys:
        spot_i, perp_i = pairs[key]
        rows = sorted(perp[key])
        start = min(start, rows[0][0])
        steps[rows[0][0]] = steps.get(rows[0][0], 0.0) - each * 2 * (
            float(spot_i.fees.taker) + float(perp_i.fees.taker)
        )
        prev: tuple[float, float] | None = None
        for ts, px, rate in rows:
            gain = 0.0
            if prev is not None and rate is not None:
                gain += each * rate
            sp = spot[key].get(ts)
            if sp is not None and sp > 0 and px > 0:
                if prev is not None:
                    gain += each * ((sp / prev[0] - 1) - (px / prev[1] - 1))
                prev = (sp, px)
            steps[ts] = steps.get(ts, 0.0) + gain
    out, total = [], 0.0
    for ts in sorted(steps):
        total += steps[ts]
        out.append((ts, total))
    return out
