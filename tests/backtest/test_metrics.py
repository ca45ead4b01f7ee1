"""Report metrics against hand-computed values, including the undefined cases."""

import math
from datetime import UTC, datetime

import pytest

from bot.backtest.metrics import (
    calmar,
    daily_returns,
    max_drawdown,
    performance,
    sharpe,
    sortino,
    trade_stats,
)

NS = 1_000_000_000


def ts(day: int, hour: int = 0) -> int:
    return int(datetime(2024, 1, day, hour, tzinfo=UTC).timestamp()) * NS


def test_daily_returns_take_the_last_equity_of_each_utc_day():
    curve = [(ts(1, 0), 100.0), (ts(1, 8), 105.0), (ts(1, 16), 101.0), (ts(2, 0), 99.0), (ts(2, 16), 110.0)]
    assert daily_returns(curve, 100.0) == pytest.approx([0.01, 110.0 / 101.0 - 1])


def test_sharpe_by_hand():
    # mean 0.008333.., sample stdev 0.0125831 → 0.662266 a day × √365 = 12.6526
    assert sharpe([0.01, -0.005, 0.02]) == pytest.approx(12.652577575, rel=1e-9)
    # rf 3.65%/yr = 0.0001 a day: (0.0083333 − 0.0001) / 0.0125831 × √365
    assert sharpe([0.01, -0.005, 0.02], rf_annual=0.0365) == pytest.approx(12.500746644, rel=1e-9)


def test_sortino_by_hand():
    # downside deviation over all 3 days: √(0.005² / 3) = 0.0028868; 0.0083333 / 0.0028868 × √365 = 55.1513
    assert sortino([0.01, -0.005, 0.02]) == pytest.approx(55.151307026, rel=1e-9)
    assert sortino([0.01, -0.005, 0.02], rf_annual=0.0365) == pytest.approx(53.421069943, rel=1e-9)


def test_sortino_is_undefined_without_a_losing_day_and_sharpe_without_variance():
    assert sortino([0.01, 0.0, 0.02]) is None
    assert sharpe([0.01, 0.01, 0.01]) is None
    assert sharpe([0.01]) is None and sortino([0.01]) is None


def test_calmar_by_hand_and_undefined_at_zero_drawdown():
    assert calmar(0.12, 0.04) == pytest.approx(3.0)
    assert calmar(0.12, 0.0) is None


def test_max_drawdown_by_hand():
    assert max_drawdown([100, 120, 90, 130, 117]) == pytest.approx(0.25)
    assert max_drawdown([100, 101, 102]) == 0.0


def test_expectancy_is_win_rate_times_avg_win_minus_loss_rate_times_avg_loss():
    s = trade_stats([100.0, -50.0, 300.0, -10.0, 0.0])
    assert (s.round_trips, s.wins, s.losses) == (5, 2, 2)
    assert s.win_rate == pytest.approx(0.4)
    assert s.avg_win == pytest.approx(200.0) and s.avg_loss == pytest.approx(30.0)
    assert s.expectancy == pytest.approx(0.4 * 200 - 0.4 * 30)  # = 68; the zero trip is neither
    assert (s.best, s.worst) == (300.0, -50.0)


def test_no_trades_and_no_losses():
    assert trade_stats([]).expectancy is None
    s = trade_stats([5.0, 7.0])
    assert s.win_rate == 1.0 and s.avg_loss is None and s.expectancy == pytest.approx(6.0)


def test_performance_states_why_a_ratio_is_undefined():
    rising = [(ts(d), 100.0 + d) for d in range(1, 11)]  # up every day: no loss, no drawdown
    p = performance(rising, 100.0, 110.0, 10 / 365, [])
    assert p["sortino"] is None and p["calmar"] is None and p["sharpe"] is not None
    assert p["undefined"] == {"sortino": "no losing days", "calmar": "no drawdown"}
    assert p["win_rate_days"] == 1.0 and p["max_drawdown"] == 0.0
    assert p["total_return"] == pytest.approx(0.10)
    assert p["annualized_return"] == pytest.approx(1.1**36.5 - 1)


def test_performance_on_a_drawdown():
    curve = [(ts(1), 100.0), (ts(2), 80.0), (ts(3), 120.0)]
    p = performance(curve, 100.0, 120.0, 1.0, [20.0])
    assert p["max_drawdown"] == pytest.approx(0.2)
    assert p["calmar"] == pytest.approx(0.2 / 0.2)
    r = [0.0, -0.2, 0.5]
    m = sum(r) / 3
    assert p["sharpe"] == pytest.approx(m / math.sqrt(sum((x - m) ** 2 for x in r) / 2) * math.sqrt(365))
