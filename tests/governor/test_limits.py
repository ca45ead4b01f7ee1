"""G7 hard limits: notional per order, gross and net exposure, equity at risk per position, order rate, open orders."""

from decimal import Decimal

import pytest

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, Origin, Purpose, Side
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, governor, hit, pair_intent, snap

NOW = T0 - 30 * 86_400 * NS_PER_SEC
MARKET = {BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=NOW), BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=NOW)}


def test_order_notional_cap_resizes_every_leg_alike() -> None:
    d = governor(g7={"max_order_notional_usd": 45_000}).decide(pair_intent("1.0", ts_ns=NOW), account(), MARKET, NOW)
    assert d.outcome is Outcome.RESIZE and d.scale == pytest.approx(0.75)
    assert [o.qty for o in d.orders] == [Decimal("0.75"), Decimal("0.75")]


def test_gross_venue_cap_resizes_to_remaining_room() -> None:
    # 200k gross held on binance, cap 250k: a 120k pair (2 × 60k) may add only 50k
    held = {BTC_SPOT: 5 / 3, BTC_PERP: -5 / 3}
    d = governor().decide(pair_intent("1.0", ts_ns=NOW), account(positions=held), MARKET, NOW)
    h = hit(d, DenyCode.MAX_GROSS_VENUE)
    assert d.outcome is Outcome.RESIZE and h.max_scale == pytest.approx(50_000 / 120_000)
    assert d.scale == 0.416 and [o.qty for o in d.orders] == [Decimal("0.416")] * 2  # rounded down to the step


def _one_leg(iid: str, side: Side, qty: str) -> OrderIntent:
    return OrderIntent("o", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg(iid, side, Decimal(qty)),), NOW)


def test_net_exposure_may_not_grow_past_its_cap() -> None:
    d = governor().decide(_one_leg(BTC_SPOT, Side.BUY, "1.0"), account(), MARKET, NOW)  # +60k net, cap 25k
    h = hit(d, DenyCode.MAX_NET_VENUE)
    assert d.outcome is Outcome.RESIZE and h.max_scale == pytest.approx(25_000 / 60_000)
    # a leg that shrinks net exposure is never held back by the cap
    d = governor().decide(_one_leg(BTC_PERP, Side.SELL, "0.5"), account(positions={BTC_SPOT: 1.0}), MARKET, NOW)
    assert hit(d, DenyCode.MAX_NET_VENUE) is None and hit(d, DenyCode.MAX_NET_TOTAL) is None


def test_equity_at_risk_per_position() -> None:
    # equity 20k -> 2% = 400 at risk; a hedged 0.5 pair risks 60k gross × 0.5% basis = 300: fine; 1.0 pair: 600
    g = governor(g1={"min_leverage": 5.0, "base_leverage": 5.0})
    assert (
        hit(g.decide(pair_intent("0.5", ts_ns=NOW), account(20_000), MARKET, NOW), DenyCode.MAX_RISK_PER_POSITION)
        is None
    )
    d = g.decide(pair_intent("1.0", ts_ns=NOW), account(20_000), MARKET, NOW)
    h = hit(d, DenyCode.MAX_RISK_PER_POSITION)
    assert h is not None and h.max_scale == pytest.approx(400 / 600) and h.inputs["limit_usd"] == 400


def test_order_rate_and_open_orders() -> None:
    g = governor(g7={"max_orders_per_minute": 4})
    for k in range(2):
        assert g.decide(pair_intent("0.01", intent_id=f"r{k}", ts_ns=NOW), account(), MARKET, NOW).orders
    d = g.decide(pair_intent("0.01", intent_id="r3", ts_ns=NOW), account(), MARKET, NOW)
    assert hit(d, DenyCode.ORDER_RATE).inputs == {"orders_last_minute": 4, "adding": 2, "max_per_minute": 4}
    later = NOW + 61 * NS_PER_SEC  # the window slides
    m = {k: snap(k, 60_000.0, ts_ns=later) for k in MARKET}
    assert g.decide(pair_intent("0.01", intent_id="r4", ts_ns=later), account(), m, later).orders
    d = governor().decide(pair_intent("0.01", ts_ns=NOW), account(open_orders=49), MARKET, NOW)
    assert hit(d, DenyCode.MAX_OPEN_ORDERS) is not None and d.outcome is Outcome.REJECT
