"""G9 leg risk: delta left unhedged beyond leg_timeout is unwound by the governor, through its own door."""

from decimal import Decimal

from bot.decisions import Outcome
from bot.domain import NS_PER_SEC, Origin, Purpose, Side
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, governor, snap

NOW = T0 - 30 * 86_400 * NS_PER_SEC


def _tick(g, positions, ts):
    m = {BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=ts), BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=ts)}
    return g.on_tick(account(positions=positions), m, ts), m


def test_unhedged_leg_is_unwound_after_the_timeout() -> None:
    g = governor()  # leg_timeout 30 s, max unhedged 2,000 USD
    lone = {BTC_SPOT: 0.5}  # 30k of delta: the perp leg never filled
    res, _ = _tick(g, lone, NOW)
    assert res.intents == [] and res.unhedged_usd == {"BTC": 30_000.0}
    res, _ = _tick(g, lone, NOW + 29 * NS_PER_SEC)
    assert res.intents == []
    res, m = _tick(g, lone, NOW + 30 * NS_PER_SEC)
    (intent,) = res.intents
    assert intent.origin is Origin.GOVERNOR and intent.purpose is Purpose.RISK_REDUCE
    assert [(leg.instrument_id, leg.side, leg.qty) for leg in intent.legs] == [(BTC_SPOT, Side.SELL, Decimal("0.5"))]
    assert res.cancel_instruments == {BTC_SPOT}  # the working leg is cancelled before the unwind
    d = g.decide(intent, account(positions=lone), m, NOW + 30 * NS_PER_SEC)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing


def test_small_or_healed_imbalance_resets_the_timer() -> None:
    g = governor()
    _tick(g, {BTC_SPOT: 0.5}, NOW)
    res, _ = _tick(g, {BTC_SPOT: 0.5, BTC_PERP: -0.49}, NOW + 20 * NS_PER_SEC)  # 600 USD left: within the limit
    assert res.intents == [] and "BTC" not in g.unhedged_since
    res, _ = _tick(g, {BTC_SPOT: 0.5}, NOW + 40 * NS_PER_SEC)
    assert res.intents == []  # a new timer started


def test_the_lone_leg_is_unwound_on_its_own_venue_not_another_venues_pair() -> None:
    g = governor()
    bybit_spot = "bybit:BTC/USDT"
    book = {BTC_SPOT: 1.0, BTC_PERP: -1.0, bybit_spot: 0.4}  # binance hedged; bybit's perp leg never filled
    m = {
        BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=NOW),
        BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=NOW),
        bybit_spot: snap(bybit_spot, 60_000.0, ts_ns=NOW),
    }
    g.on_tick(account(positions=book), m, NOW)
    later = NOW + 31 * NS_PER_SEC
    m = {k: snap(k, 60_000.0, ts_ns=later) for k in m}
    (intent,) = g.on_tick(account(positions=book), m, later).intents
    assert [(leg.instrument_id, leg.qty) for leg in intent.legs] == [(bybit_spot, Decimal("0.4"))]
