"""Fills that respect time on coarse bars (issue 14 item 4): a resting lead that fills inside a bar is hedged at the
same intrabar moment (the pair's own relative price), never at the next bar's open; the real unhedged interval is
measured in simulated time."""

from decimal import Decimal

from bot.domain import IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.venues.paper import PaperParams
from tests.helpers import BTC_PERP, BTC_SPOT, rules
from tests.scenario_kit import path, run


def _entry(view, now):
    legs = (IntentLeg(BTC_SPOT, Side.BUY, Decimal("0.3")), IntentLeg(BTC_PERP, Side.SELL, Decimal("0.3"), leverage=1))
    return [OrderIntent(f"e-{now}", Origin.STRATEGY, "t", Purpose.ENTRY, legs, now)]


def test_a_bar_that_moves_ten_percent_after_the_lead_fill_leaves_the_pair_price_pnl_near_zero() -> None:
    # the post-only spot lead rests at the bid (59,997); the next 8h bar trades down through it, then the market
    # ends the bar 10% higher: the lead filled inside the bar, the taker hedge must not be priced at 66,000
    prices = [60_000.0, 60_000.0, 66_000.0, 66_000.0, 66_000.0]
    params = PaperParams(latency_secs=0.05, slippage_bps=0.0, impact_bps_per_million_usd=0.0)
    ex = run(path(prices), {1: _entry}, rules(), params=params)
    lead = next(f for f in ex.stats.fills_log if f.instrument_id == BTC_SPOT)
    hedge = next(f for f in ex.stats.fills_log if f.instrument_id == BTC_PERP)
    assert lead.intrabar and lead.price < 60_000
    # the hedge traded at the same moment: 66,000's bid scaled by the lead's fill over the spot mid now
    assert abs(float(hedge.price) / float(lead.price) - 1) < 2e-4
    parts = ex.ledger.parts(ex.marks)
    notional = float(lead.qty * lead.price)
    price_pnl = float(parts.realized + parts.unrealized)
    assert abs(price_pnl) < 1e-3 * notional  # the old hedge at the bar's open booked +1,800 here (10% of 18,000)
    # the unhedged interval, in simulated time, is the hedge's latency: the lead filled, its hedge 50 ms later
    assert ex.stats.unhedged_intervals == 1
    assert abs(ex.stats.unhedged_secs_max - 0.05) < 1e-9


def test_a_hedge_in_a_later_bar_takes_that_bar_s_price() -> None:
    # a moment is only good inside its own bar: the venue keeps no scale for a fill it did not see
    from bot.venues.paper_moments import IntrabarMoments

    m = IntrabarMoments()
    m.record("binance:t1", 100, 0.9)
    assert m.scale_for("binance:t1", 100) == 0.9
    assert m.scale_for("binance:t1", 200) is None and m.scale_for("binance:t2", 100) is None
    m.record("binance:t3", 200, 1.1)  # a new bar drops the old bar's moments
    assert m.scale_for("binance:t1", 100) is None
