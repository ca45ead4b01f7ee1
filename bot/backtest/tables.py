"""What a trader reads beside the headline figures: monthly returns, the underwater curve, rolling Sharpe, the round
trips with their funding and costs. Pure functions of the run's equity track and observer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.backtest.observer import RoundTrip
from bot.execution.equity import EquityTrack

DAY_SECS = 86_400


def monthly_returns(track: EquityTrack) -> dict[str, float]:
    """``YYYY-MM`` -> return over the month, from the last equity of the month before (the start for the first)."""
    out: dict[str, float] = {}
    prev = track.start
    last_by_month: dict[str, float] = {}
    for day in sorted(track.daily):
        month = datetime.fromtimestamp(day * DAY_SECS, tz=UTC).strftime("%Y-%m")
        last_by_month[month] = track.daily[day]
    for month, equity in last_by_month.items():
        out[month] = equity / prev - 1 if prev > 0 else 0.0
        prev = equity
    return out


def underwater(equity: Sequence[float]) -> list[float]:
    """Drawdown from the running peak at each point (0 at a new high, negative below it)."""
    out, peak = [], -math.inf
    for e in equity:
        peak = max(peak, e)
        out.append(e / peak - 1 if peak > 0 else 0.0)
    return out


def rolling_sharpe(daily: Sequence[float], window: int = 30) -> list[float | None]:
    """Annualized Sharpe of the last ``window`` daily returns (365 days a year: crypto trades every day); ``None``
    until the window is full or when the returns do not vary."""
    rets = [b / a - 1 for a, b in zip(daily, daily[1:], strict=False) if a > 0]
    out: list[float | None] = [None]
    for k in range(len(rets)):
        w = rets[max(0, k - window + 1) : k + 1]
        if len(w) < window:
            out.append(None)
            continue
        mean = sum(w) / window
        sd = math.sqrt(sum((r - mean) ** 2 for r in w) / (window - 1))
        out.append(mean / sd * math.sqrt(365) if sd > 0 else None)
    return out


def round_trip_rows(trips: Sequence[RoundTrip], still_open: Sequence[RoundTrip]) -> list[dict[str, Any]]:
    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")

    rows = []
    for t, status in [(t, "closed") for t in trips] + [(t, "open") for t in still_open]:
        rows.append(
            {
                "venue": t.venue,
                "base": t.base,
                "entry": iso(t.opened_ns),
                "exit": iso(t.closed_ns) if status == "closed" else "(open)",
                "days": round((t.closed_ns - t.opened_ns) / 1e9 / DAY_SECS, 1),
                "funding_usd": round(t.funding, 2),
                "costs_usd": round(t.costs, 2),
                "price_pnl_usd": round(t.pnl - t.funding + t.costs, 2),
                "pnl_usd": round(t.pnl, 2),
            }
        )
    return rows
