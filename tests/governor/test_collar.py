"""G6 collars on every order, risk-reducing ones included: no order at a broken price (issue: fail safe)."""

from dataclasses import replace
from decimal import Decimal

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, OrderType, Origin, Purpose, Side
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, governor, hit, pair_intent, snap

NOW = T0 - 30 * 86_400 * NS_PER_SEC
HELD = {BTC_SPOT: 0.5, BTC_PERP: -0.5}


def market(perp=None, spot=None):
    return {
        BTC_SPOT: spot or snap(BTC_SPOT, 60_000.0, ts_ns=NOW),
        BTC_PERP: perp or snap(BTC_PERP, 60_000.0, ts_ns=NOW),
    }


def close_perp(origin=Origin.GOVERNOR, flatten=True, limit=None) -> OrderIntent:
    leg = IntentLeg(
        BTC_PERP,
        Side.BUY,
        Decimal("0.5"),
        OrderType.LIMIT if limit else OrderType.MARKET,
        Decimal(limit) if limit else None,
        reduce_only=True,
    )
    return OrderIntent("c-1", origin, "test", Purpose.RISK_REDUCE, (leg,), NOW, flatten=flatten)


def test_a_flatten_on_a_suspect_print_waits() -> None:
    perp = replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), suspect=True)
    d = governor().decide(close_perp(), account(positions=HELD), market(perp), NOW)
    assert d.outcome is Outcome.REJECT and d.risk_reducing and d.orders == ()
    assert hit(d, DenyCode.PRICE_UNCONFIRMED).rule == "G6"


def test_entries_on_a_suspect_print_are_refused() -> None:
    perp = replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), suspect=True)
    d = governor().decide(pair_intent(ts_ns=NOW), account(), market(perp), NOW)
    assert d.outcome is Outcome.REJECT and hit(d, DenyCode.PRICE_UNCONFIRMED) is not None


def test_a_risk_reducing_market_order_into_a_gapped_book_becomes_a_limit_at_the_collar() -> None:
    # the ask has run 20% above the mark (thin book): buying back the short at market would pay it
    perp = replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), ask=72_000.0)
    d = governor().decide(close_perp(), account(positions=HELD), market(perp), NOW)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
    (o,) = d.orders
    assert o.order_type is OrderType.LIMIT and o.limit_price == Decimal("63000.00")  # mark × 1.05
    assert hit(d, DenyCode.PRICE_COLLAR).max_scale == 1.0


def test_a_sell_into_a_collapsed_bid_is_capped_below_the_mark() -> None:
    perp = replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), bid=30_000.0)
    leg = IntentLeg(BTC_PERP, Side.SELL, Decimal("0.5"), reduce_only=True)
    intent = OrderIntent("c-2", Origin.OPERATOR, "test", Purpose.RISK_REDUCE, (leg,), NOW, flatten=True)
    d = governor().decide(intent, account(positions={BTC_PERP: 0.5}), market(perp), NOW)
    (o,) = d.orders
    assert o.order_type is OrderType.LIMIT and o.limit_price == Decimal("57000.00")


def test_a_book_beyond_the_band_on_the_favourable_side_is_broken_and_gets_nothing() -> None:
    perp = replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), ask=30_000.0, bid=29_990.0)
    d = governor().decide(close_perp(), account(positions=HELD), market(perp), NOW)
    assert d.outcome is Outcome.REJECT and hit(d, DenyCode.PRICE_COLLAR).inputs["reason"] == "book_off_reference"


def test_a_perp_at_a_gap_to_its_index_may_still_be_closed_but_not_entered() -> None:
    """The guard trusted the print (the perps elsewhere agree): the close goes at market, entries stay refused."""
    perp = snap(BTC_PERP, 60_000.0, ts_ns=NOW, index=50_000.0)
    d = governor().decide(close_perp(), account(positions=HELD), market(perp), NOW)
    assert d.outcome is Outcome.APPROVE and d.orders[0].order_type is OrderType.MARKET
    d = governor().decide(pair_intent(ts_ns=NOW), account(), market(perp), NOW)
    assert d.outcome is Outcome.REJECT and hit(d, DenyCode.PRICE_SANITY) is not None


def test_a_limit_beyond_the_collar_is_refused_and_one_inside_passes() -> None:
    g = governor()
    d = g.decide(close_perp(limit="70000"), account(positions=HELD), market(), NOW)
    assert d.outcome is Outcome.REJECT and hit(d, DenyCode.PRICE_COLLAR) is not None
    d = g.decide(close_perp(limit="60100"), account(positions=HELD), market(), NOW)
    assert d.outcome is Outcome.APPROVE and d.orders[0].limit_price == Decimal("60100")


def test_orders_at_sane_prices_are_untouched() -> None:
    d = governor().decide(close_perp(), account(positions=HELD), market(), NOW)
    assert d.outcome is Outcome.APPROVE and d.orders[0].order_type is OrderType.MARKET and not d.hits
