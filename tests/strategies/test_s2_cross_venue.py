from decimal import Decimal

import pytest

from bot.domain import NS_PER_SEC, FeeSchedule, Instrument, InstrumentKind, Purpose, Side
from bot.strategies.base import StrategyView
from bot.strategies.s2_cross_venue import CrossVenueFunding
from bot.strategies.settings import S2Settings
from tests.helpers import INSTRUMENTS, T0, batch, snap

BIN, BYB, OKX = "binance:BTC/USDT:USDT", "bybit:BTC/USDT:USDT", "okx:BTC/USDT:USDT"
H8 = 8 * 3600 * NS_PER_SEC
PERPS = {k: INSTRUMENTS[k] for k in (BIN, BYB, OKX)}


def _run(strategy, rates: dict[str, list[float]], positions=None):
    out = []
    for k in range(len(next(iter(rates.values())))):
        ts = T0 + k * H8
        snaps = [snap(iid, 60_000.0, ts_ns=ts, half_spread=1.5, rate=r[k], settle=True) for iid, r in rates.items()]
        out = strategy.on_batch(
            batch(*snaps), StrategyView({s.instrument_id: s for s in snaps}, positions or {}, frozenset()), ts
        )
    return out


def s2(**kw) -> CrossVenueFunding:
    return CrossVenueFunding(S2Settings(**({"funding_lookback_periods": 3} | kw)), PERPS)


def test_long_the_lowest_short_the_highest() -> None:
    (intent,) = _run(s2(), {BIN: [0.0001] * 3, BYB: [0.0006] * 3, OKX: [-0.0001] * 3})
    assert intent.purpose is Purpose.ENTRY
    assert [(leg.instrument_id, leg.side) for leg in intent.legs] == [(OKX, Side.BUY), (BYB, Side.SELL)]
    assert intent.legs[0].qty == intent.legs[1].qty == Decimal("0.333")


def test_a_thin_differential_does_not_pay_its_fees() -> None:
    assert _run(s2(), {BIN: [0.0001] * 3, BYB: [0.00013] * 3, OKX: [0.0001] * 3}) == []  # 3.3%/yr gross


def test_exit_when_the_differential_on_the_held_venues_flips() -> None:
    held = {OKX: Decimal("0.3"), BYB: Decimal("-0.3")}
    assert _run(s2(), {BIN: [0.0001] * 3, BYB: [0.0006] * 3, OKX: [-0.0001] * 3}, held) == []
    (intent,) = _run(s2(), {BIN: [0.0001] * 3, BYB: [-0.0002] * 3, OKX: [0.0003] * 3}, held)
    assert intent.purpose is Purpose.EXIT and intent.reason == "carry_gone"
    assert {(leg.instrument_id, leg.side) for leg in intent.legs} == {(OKX, Side.SELL), (BYB, Side.BUY)}


def test_venues_with_different_intervals_are_compared_annualized() -> None:
    hourly = Instrument(
        "bybit",
        "BTC/USDT:USDT",
        InstrumentKind.PERP,
        "BTC",
        "USDT",
        FeeSchedule(Decimal("0.0002"), Decimal("0.00055")),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        funding_interval_secs=3600,
    )
    strategy = CrossVenueFunding(S2Settings(funding_lookback_periods=3), {BIN: PERPS[BIN], BYB: hourly})
    # 0.00002 per hour is 17.5%/yr; 0.0001 per 8h is 10.95%/yr: the hourly venue is the *higher* one
    assert strategy.apr(hourly, 0.00002) == pytest.approx(0.00002 * 8760)
    assert strategy.apr(PERPS[BIN], 0.0001) == pytest.approx(0.1095)
