import pytest

from bot.strategies.borrow import BorrowCurve

CURVE = BorrowCurve(base_apr=0.02, slope1=0.10, slope2=1.50, kink=0.80, pool_borrows_usd=40e6, pool_cash_usd=60e6)


@pytest.mark.parametrize("u, rate", [(0.0, 0.02), (0.5, 0.07), (0.8, 0.10), (0.9, 0.10 + 0.1 * 1.5), (1.0, 0.40)])
def test_kinked_curve(u: float, rate: float) -> None:
    assert CURVE.rate(u) == pytest.approx(rate)


def test_utilization_includes_our_own_borrow() -> None:
    assert CURVE.utilization() == pytest.approx(0.4)
    assert CURVE.utilization(10e6) == pytest.approx(0.5)  # 50m of 100m
    assert CURVE.rate_for(10e6) == pytest.approx(0.07)


def test_the_curve_must_kink_upwards() -> None:
    with pytest.raises(ValueError, match="slope2"):
        BorrowCurve(slope1=1.0, slope2=0.5)
