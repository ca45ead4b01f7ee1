from decimal import Decimal

import pytest

from bot.domain import NS_PER_SEC, FeeSchedule, Instrument, InstrumentKind, Purpose, Side
from bot.strategies.base import StrategyView
from bot.strategies.s3_basis import SpotFuturesBasis, basis_annualized, calendar_spread_pct
from bot.strategies.settings import S3Settings
from tests.helpers import BTC_SPOT, INSTRUMENTS, T0, batch, snap

DAY = 86_400 * NS_PER_SEC
FEES = FeeSchedule(Decimal("0.0002"), Decimal("0.0005"))


def fut(days: int, tag: str) -> Instrument:
    return Instrument(
        "binance",
        f"BTC/USDT:USDT-{tag}",
        InstrumentKind.FUTURE,
        "BTC",
        "USDT",
        FEES,
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        ts_expiry_ns=T0 + days * DAY,
    )


F1, F2 = fut(60, "A"), fut(150, "B")


def test_formulas() -> None:
    assert basis_annualized(61_000, 60_000, 73) == pytest.approx(1_000 / 60_000 * 5)
    assert calendar_spread_pct(61_000, 62_000, 91) == pytest.approx(1_000 / 61_000 * 365 / 91 * 100)


def _step(strategy, now, spot_px, prices: dict[Instrument, float], positions=None):
    s = snap(BTC_SPOT, spot_px, ts_ns=now, half_spread=3.0)
    fs = [snap(f.id, p, ts_ns=now, half_spread=3.0, index=spot_px) for f, p in prices.items()]
    market = {x.instrument_id: x for x in [s, *fs]}
    return strategy.on_batch(batch(s, *fs), StrategyView(market, positions or {}, frozenset()), now)


def s3(**kw) -> SpotFuturesBasis:
    return SpotFuturesBasis(S3Settings(**kw), {BTC_SPOT: INSTRUMENTS[BTC_SPOT], F1.id: F1, F2.id: F2})


def test_enters_long_spot_short_the_front_future_when_the_basis_pays() -> None:
    # front: 60 days, F/S - 1 = 2.5% -> 15.2%/yr; costs ≈ 0.25% + spreads over 60 days ≈ 1.6%/yr
    (intent,) = _step(s3(), T0, 60_000, {F1: 61_500, F2: 63_000})
    assert intent.purpose is Purpose.ENTRY
    assert [(leg.instrument_id, leg.side) for leg in intent.legs] == [(BTC_SPOT, Side.BUY), (F1.id, Side.SELL)]


def test_thin_basis_net_of_fees_is_no_entry() -> None:
    assert _step(s3(), T0, 60_000, {F1: 60_700, F2: 61_400}) == []  # 7.1%/yr gross, under 8% net


def test_exit_early_when_the_basis_compresses() -> None:
    held = {BTC_SPOT: Decimal("0.3"), F1.id: Decimal("-0.3")}
    (intent,) = _step(s3(), T0, 60_000, {F1: 60_100, F2: 61_400}, held)  # 1%/yr left
    assert intent.reason == "basis_compressed" and intent.purpose is Purpose.EXIT


def test_rolls_to_the_next_quarter_before_the_expiry_windows() -> None:
    held = {BTC_SPOT: Decimal("0.3"), F1.id: Decimal("-0.3")}
    near = T0 + 53 * DAY  # 7 days left on F1 (roll at 8), 97 on F2
    (intent,) = _step(s3(), near, 60_000, {F1: 60_100, F2: 62_500}, held)
    assert intent.reason.startswith("roll")
    assert [(leg.instrument_id, leg.side, leg.reduce_only) for leg in intent.legs] == [
        (F1.id, Side.BUY, True),
        (F2.id, Side.SELL, False),
    ]
    (close,) = _step(s3(), near, 60_000, {F1: 60_100, F2: 60_300}, held)  # the next one does not pay: close
    assert close.reason == "expiry_near" and close.purpose is Purpose.EXIT


def test_no_entry_into_a_contract_too_near_expiry() -> None:
    near = T0 + 50 * DAY  # F1 has 10 days (< 14): only F2 may be entered, and it must pay on its own
    (intent,) = _step(s3(), near, 60_000, {F1: 60_500, F2: 62_500})
    assert intent.legs[1].instrument_id == F2.id
