"""Performance metrics of a run, as pure functions of its equity curve and its round trips (SPEC §6, §7).

Conventions (stated in the report, tested against hand-computed values):

- Returns are **daily**: the last equity of each UTC day against the last of the day before (the first day against
  the starting equity). Crypto trades every day, so annualization uses **365** days.
- Sharpe = (mean(r) − rf_daily) / stdev(r) × √365, sample stdev (n − 1). Undefined (``None``) with fewer than two
  days or a flat curve.
- Sortino = (mean(r) − rf_daily) / downside deviation × √365, downside deviation = √(mean(min(r − rf_daily, 0)²))
  over *all* days. With no losing day it is undefined (``None``, reason ``no losing days``) rather than infinite.
- Calmar = annualized return / max drawdown. With zero drawdown it is undefined (``None``, reason
  ``no drawdown``).
- Win rate and expectancy are over round trips (a base asset going from flat to flat, all its legs, funding and
  costs included): expectancy = win_rate × avg_win − loss_rate × avg_loss. A round trip of exactly 0 is neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bot.execution.equity import EquityTrack

NS_PER_SEC = 1_000_000_000
DAYS_PER_YEAR = 365


def daily_returns(curve: Sequence[tuple[int, float]], start_equity: float) -> list[float]:
    """Last equity of each UTC day vs the previous day's last (the first day vs ``start_equity``)."""
    closes: dict[str, float] = {}
    for ts_ns, eq in curve:
        closes[datetime.fromtimestamp(ts_ns // NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d")] = eq
    out, prev = [], start_equity
    for day in sorted(closes):
        eq = closes[day]
        out.append(eq / prev - 1.0 if prev > 0 else 0.0)
        prev = eq
    return out


def max_drawdown(curve: Sequence[float]) -> float:
    peak, worst = -math.inf, 0.0
    for eq in curve:
        peak = max(peak, eq)
        if peak > 0:
            worst = max(worst, 1.0 - eq / peak)
    return worst


def sharpe(returns: Sequence[float], rf_annual: float = 0.0) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return (mean - rf_annual / DAYS_PER_YEAR) / math.sqrt(var) * math.sqrt(DAYS_PER_YEAR)


def sortino(returns: Sequence[float], rf_annual: float = 0.0) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    rf = rf_annual / DAYS_PER_YEAR
    downside = math.sqrt(sum(min(r - rf, 0.0) ** 2 for r in returns) / n)
    if downside == 0:
        return None
    return (sum(returns) / n - rf) / downside * math.sqrt(DAYS_PER_YEAR)


def calmar(annualized_return: float, drawdown: float) -> float | None:
    return None if drawdown <= 0 else annualized_return / drawdown


@dataclass(frozen=True, slots=True)
class TradeStats:
    round_trips: int
    wins: int
    losses: int
    win_rate: float | None
    avg_win: float | None
    avg_loss: float | None  # a positive number: the average size of a loss
    expectancy: float | None  # win_rate × avg_win − loss_rate × avg_loss, per round trip (USD)
    best: float | None
    worst: float | None


def trade_stats(pnls: Sequence[float]) -> TradeStats:
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    n = len(pnls)
    if n == 0:
        return TradeStats(0, 0, 0, None, None, None, None, None, None)
    win_rate, loss_rate = len(wins) / n, len(losses) / n
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    return TradeStats(
        n,
        len(wins),
        len(losses),
        win_rate,
        avg_win if wins else None,
        avg_loss if losses else None,
        win_rate * avg_win - loss_rate * avg_loss,
        max(pnls),
        min(pnls),
    )


def returns_from_closes(closes: Sequence[float], start_equity: float) -> list[float]:
    out, prev = [], start_equity
    for eq in closes:
        out.append(eq / prev - 1.0 if prev > 0 else 0.0)
        prev = eq
    return out


def performance(
    curve: Sequence[tuple[int, float]] | EquityTrack,
    start_equity: float,
    end_equity: float,
    years: float,
    round_trip_pnls: Sequence[float],
    rf_annual: float = 0.0,
) -> dict[str, Any]:
    """Every headline figure of a report, with the reason beside each undefined one. ``curve`` is the full
    (ts, equity) path or the run's constant-memory ``EquityTrack`` (same figures)."""
    total = end_equity / start_equity - 1.0 if start_equity > 0 else 0.0
    annual = (1.0 + total) ** (1.0 / years) - 1.0 if total > -1 and years > 0 else -1.0
    if isinstance(curve, EquityTrack):
        dd, rets = curve.max_drawdown, returns_from_closes(curve.daily_closes(), start_equity)
    else:
        dd = max_drawdown([start_equity, *(e for _, e in curve)])
        rets = daily_returns(curve, start_equity)
    sh, so, ca = sharpe(rets, rf_annual), sortino(rets, rf_annual), calmar(annual, dd)
    undefined = {}
    if sh is None:
        undefined["sharpe"] = "fewer than two days" if len(rets) < 2 else "flat equity"
    if so is None:
        undefined["sortino"] = "fewer than two days" if len(rets) < 2 else "no losing days"
    if ca is None:
        undefined["calmar"] = "no drawdown"
    days_up = sum(1 for r in rets if r > 0)
    return {
        "total_return": total,
        "annualized_return": annual,
        "max_drawdown": dd,
        "sharpe": sh,
        "sortino": so,
        "calmar": ca,
        "undefined": undefined,
        "risk_free_annual": rf_annual,
        "days": len(rets),
        "win_rate_days": days_up / len(rets) if rets else None,
        "trades": asdict(trade_stats(round_trip_pnls)),
        "conventions": "daily UTC returns, 365-day year, sample stdev; Sortino downside over all days",
    }
