"""The door itself: approvals carry orders, states gate what passes, the audit sees everything, post-only entries."""

from decimal import Decimal

import pytest

from bot.decisions import DenyCode, Outcome, TradingState
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, OrderType, Origin, Purpose, Side
from bot.events import DecisionMade, EventBus
from bot.governor.audit import MemoryAudit
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, batch, governor, hit, pair_intent, snap

MARKET = {BTC_SPOT: snap(BTC_SPOT, 60_000.0), BTC_PERP: snap(BTC_PERP, 60_000.0)}
HELD = {BTC_SPOT: 0.5, BTC_PERP: -0.5}
DAY = 86_400 * NS_PER_SEC
T_CALM = T0 - 30 * DAY  # 2023-10-15: no expiry within two weeks


def exit_intent(origin: Origin = Origin.STRATEGY, flatten: bool = False, ts: int = T_CALM) -> OrderIntent:
    return pair_intent("0.5", Purpose.EXIT, origin, "x-1", flatten=flatten, spot_side=Side.SELL, ts_ns=ts)


def market_at(ts: int) -> dict:
    return {BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=ts), BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=ts)}


def test_clean_entry_leads_with_a_post_only_less_liquid_leg_and_a_taker_hedge() -> None:
    d = governor().decide(pair_intent(ts_ns=T_CALM), account(), market_at(T_CALM), T_CALM)
    assert d.outcome is Outcome.APPROVE and d.scale == 1.0
    assert [h.code for h in d.hits] == [DenyCode.POST_ONLY_ENTRY]
    assert [(o.instrument_id, o.side, o.qty, o.order_type, o.post_only, o.limit_price) for o in d.orders] == [
        (BTC_SPOT, Side.BUY, Decimal("0.5"), OrderType.LIMIT, True, Decimal("59995.0")),
        (BTC_PERP, Side.SELL, Decimal("0.5"), OrderType.MARKET, False, None),
    ]
    assert {o.decision_id for o in d.orders} == {d.decision_id}
    assert d.orders[0].ref_mid == 60_000.0 and d.orders[0].ref_touch == 59_995.0


def test_both_legs_join_the_book_when_the_hedge_is_post_only() -> None:
    d = governor(g6={"hedge_leg": "post_only"}).decide(pair_intent(ts_ns=T_CALM), account(), market_at(T_CALM), T_CALM)
    assert [(o.order_type, o.post_only, o.limit_price) for o in d.orders] == [
        (OrderType.LIMIT, True, Decimal("59995.0")),
        (OrderType.LIMIT, True, Decimal("60005.0")),
    ]


def test_entries_may_take_when_post_only_is_switched_off() -> None:
    d = governor(g6={"entries_post_only": False}).decide(
        pair_intent(ts_ns=T_CALM), account(), market_at(T_CALM), T_CALM
    )
    assert d.outcome is Outcome.APPROVE and d.hits == ()
    assert {o.order_type for o in d.orders} == {OrderType.MARKET} and d.orders[0].ref_touch == 60_005.0


def test_exits_keep_market_orders() -> None:
    d = governor().decide(exit_intent(), account(positions=HELD), market_at(T_CALM), T_CALM)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
    assert {o.order_type for o in d.orders} == {OrderType.MARKET}


def test_missing_snapshot_fails_closed() -> None:
    d = governor().decide(pair_intent(), account(), {BTC_SPOT: MARKET[BTC_SPOT]}, T0)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.NO_SNAPSHOT


def test_unknown_instrument_is_rejected() -> None:
    intent = OrderIntent(
        "u", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg("binance:DOGE/USDT", Side.BUY, Decimal(1)),), T0
    )
    d = governor().decide(intent, account(), MARKET, T0)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.UNKNOWN_INSTRUMENT


def test_resize_too_small_is_a_rejection() -> None:
    d = governor(g7={"max_order_notional_usd": 1_000}).decide(
        pair_intent("1.0", ts_ns=T_CALM), account(), market_at(T_CALM), T_CALM
    )
    assert d.outcome is Outcome.REJECT
    assert [h.code for h in d.hits] == [DenyCode.MAX_ORDER_NOTIONAL, DenyCode.BELOW_MIN_SIZE]


def test_daily_loss_sets_reducing_until_next_utc_day() -> None:
    g = governor()
    day0 = (T_CALM // DAY) * DAY
    g.on_tick(account(100_000), market_at(day0), day0)
    res = g.on_tick(account(97_999), market_at(day0), day0 + 3600 * NS_PER_SEC)
    tr = res.transition
    assert tr is not None and tr.to_state is TradingState.REDUCING and tr.code is DenyCode.DAILY_LOSS_LIMIT
    assert tr.inputs["loss_pct"] == pytest.approx(0.02001)
    now = day0 + 3600 * NS_PER_SEC
    d = g.decide(pair_intent(ts_ns=now), account(97_999), market_at(now), now)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STATE_REDUCING
    d = g.decide(exit_intent(ts=now), account(97_999, HELD), market_at(now), now)
    assert d.outcome is Outcome.APPROVE
    tr = g.on_tick(account(97_999), market_at(day0 + DAY), day0 + DAY).transition
    assert tr is not None and tr.to_state is TradingState.ACTIVE


def test_drawdown_halts_and_the_governor_flattens_through_its_own_door() -> None:
    g = governor()
    g.on_tick(account(100_000, HELD), MARKET, T0)
    later = T0 + 10 * DAY
    res = g.on_tick(account(89_999, HELD), market_at(later), later)
    tr = res.transition
    assert tr is not None and tr.to_state is TradingState.HALTED and tr.code is DenyCode.MAX_DRAWDOWN
    assert tr.inputs["drawdown_pct"] == pytest.approx(0.10001)
    flat = [i for i in res.intents if i.flatten]
    assert {(i.legs[0].instrument_id, i.legs[0].side) for i in flat} == {(BTC_SPOT, Side.SELL), (BTC_PERP, Side.BUY)}
    assert all(i.origin is Origin.GOVERNOR for i in flat)
    for intent in flat:
        assert g.decide(intent, account(89_999, HELD), market_at(later), later).outcome is Outcome.APPROVE
    # in HALTED strategies may place nothing, not even exits, and a new day does not lift it
    d = g.decide(exit_intent(ts=later), account(89_999, HELD), market_at(later), later)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STATE_HALTED
    g.on_tick(account(89_999, HELD), market_at(later + 2 * DAY), later + 2 * DAY)
    assert g.trading_state is TradingState.HALTED


def test_operator_flatten_passes_in_halted() -> None:
    g = governor()
    g.set_state(TradingState.HALTED, T0, "operator", "test")
    d = g.decide(exit_intent(Origin.OPERATOR, flatten=True), account(positions=HELD), market_at(T_CALM), T_CALM)
    assert d.outcome is Outcome.APPROVE


def test_an_exit_label_that_would_grow_or_flip_a_position_is_treated_as_an_entry() -> None:
    g = governor()
    g.set_state(TradingState.REDUCING, T0, "operator", "test")
    grow = pair_intent("0.5", Purpose.EXIT)  # buys spot, sells perp: grows HELD
    flip = pair_intent("1.5", Purpose.EXIT, spot_side=Side.SELL)  # sells 1.5 of 0.5 held: flips
    for intent in (grow, flip):
        d = g.decide(intent, account(positions=HELD), MARKET, T0)
        assert d.outcome is Outcome.REJECT and not d.risk_reducing and d.hits[0].code is DenyCode.STATE_REDUCING


def test_every_decision_reaches_the_audit_sink_counted_by_rule_and_outcome() -> None:
    g = governor(g7={"max_order_notional_usd": 45_000}, g6={"entries_post_only": False})
    m = market_at(T_CALM)
    audit = MemoryAudit()
    bus = EventBus([audit])
    for iid, mk in (("a", m), ("b", m), ("c", {})):
        qty = "1.0" if iid == "a" else "0.5"
        bus.publish(DecisionMade(g.decide(pair_intent(qty, intent_id=iid, ts_ns=T_CALM), account(), mk, T_CALM), 0.0))
    assert [d.intent.intent_id for d in audit.decisions] == ["a", "b", "c"]
    assert audit.by_rule_outcome == {("G7", "resize"): 1, ("none", "approve"): 1, ("G6", "reject"): 1}
    d = audit.decisions[0]
    assert hit(d, DenyCode.MAX_ORDER_NOTIONAL).inputs == {
        "instrument": BTC_SPOT,
        "notional_usd": 60_000.0,
        "cap_usd": 45_000,
    }


def test_decisions_name_the_signals_the_feed_could_not_provide() -> None:
    g = governor()
    m = market_at(T_CALM)
    g.observe(batch(*m.values()))
    d = g.decide(pair_intent(ts_ns=T_CALM), account(), m, T_CALM)
    # the test market has funding but no OI, liquidations, options or history yet
    assert d.unavailable == ("liquidations", "oi_vs_price", "realized_vol", "skew", "structure")
    audit = MemoryAudit()
    audit.handle(DecisionMade(d, 0.0))
    assert audit.unavailable["skew"] == 1


def test_governor_state_survives_a_restart() -> None:
    g = governor()
    g.on_tick(account(100_000, HELD), market_at(T_CALM), T_CALM)
    g.on_tick(account(96_000, HELD), market_at(T_CALM + 3600 * NS_PER_SEC), T_CALM + 3600 * NS_PER_SEC)
    g.unhedged_since["ETH"] = 123
    state = g.export_state()
    fresh = governor()
    fresh.import_state(state)
    assert fresh.export_state() == state
    assert fresh.trading_state is g.trading_state and fresh.ladders.stage("account") == g.ladders.stage("account") > 0
