from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import NS_PER_SEC, DenyCode, IntentLeg, OrderIntent, Origin, Outcome, Purpose, Side, TradingState
from bot.governor import Governor
from bot.governor.audit import MemoryAudit
from bot.governor.rules_config import G7Config, RulesConfig
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, T0, account, pair_intent, snap

MARKET = {BTC_SPOT: snap(BTC_SPOT, 60_000.0), BTC_PERP: snap(BTC_PERP, 60_000.0)}
HELD = {BTC_SPOT: 0.5, BTC_PERP: -0.5}
DAY = 86_400 * NS_PER_SEC


def gov(**g7) -> Governor:
    return Governor(RulesConfig(g7=G7Config(**g7)) if g7 else RulesConfig(), INSTRUMENTS, MemoryAudit())


def exit_intent(origin: Origin = Origin.STRATEGY, flatten: bool = False) -> OrderIntent:
    return pair_intent("0.5", Purpose.EXIT, origin, "x-1", flatten=flatten, spot_side=Side.SELL)


def test_clean_entry_is_approved_with_orders_carrying_the_decision() -> None:
    d = gov().decide(pair_intent(), account(), MARKET, T0)
    assert d.outcome is Outcome.APPROVE and d.hits == () and d.scale == 1.0
    assert [(o.instrument_id, o.side, o.qty) for o in d.orders] == [
        (BTC_SPOT, Side.BUY, Decimal("0.5")), (BTC_PERP, Side.SELL, Decimal("0.5"))]
    assert {o.decision_id for o in d.orders} == {d.decision_id}
    assert d.orders[0].ref_mid == 60_000.0 and d.orders[0].ref_touch == 60_005.0


def test_stale_snapshot_blocks_entries_but_lets_exits_through() -> None:
    g = gov()
    later = T0 + 121 * NS_PER_SEC  # rules/default.yaml: max_snapshot_age_secs 120
    d = g.decide(pair_intent(ts_ns=later), account(), MARKET, later)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STALE_SNAPSHOT
    assert d.hits[0].inputs["age_secs"] == 121.0 and d.orders == ()
    d = g.decide(exit_intent(), account(positions=HELD), MARKET, later)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing


def test_missing_snapshot_fails_closed() -> None:
    d = gov().decide(pair_intent(), account(), {BTC_SPOT: MARKET[BTC_SPOT]}, T0)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.NO_SNAPSHOT


@pytest.mark.parametrize("bad", [
    snap(BTC_PERP, 60_000.0, index=57_000.0),  # mark 5.3% off index
    snap(BTC_PERP, 60_000.0, last=63_000.0),  # last 5% off mark
])
def test_insane_prices_block_entries(bad) -> None:
    d = gov().decide(pair_intent(), account(), {BTC_SPOT: MARKET[BTC_SPOT], BTC_PERP: bad}, T0)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.PRICE_SANITY and d.hits[0].rule == "G6"


def test_order_notional_cap_resizes_every_leg_alike() -> None:
    d = gov(max_order_notional_usd=45_000).decide(pair_intent("1.0"), account(), MARKET, T0)
    assert d.outcome is Outcome.RESIZE and d.hits[0].code is DenyCode.MAX_ORDER_NOTIONAL
    assert d.scale == pytest.approx(0.75)
    assert [o.qty for o in d.orders] == [Decimal("0.75"), Decimal("0.75")]
    assert d.hits[0].inputs == {"instrument": BTC_SPOT, "notional_usd": 60_000.0, "cap_usd": 45_000}


def test_gross_venue_cap_resizes_to_remaining_room() -> None:
    # 200k gross held on binance, cap 250k: a 120k pair (2 × 60k) may add only 50k -> scale 5/12
    held = {BTC_SPOT: 5 / 3, BTC_PERP: -5 / 3}
    d = gov().decide(pair_intent("1.0"), account(positions=held), MARKET, T0)
    assert d.outcome is Outcome.RESIZE and d.hits[0].code is DenyCode.MAX_GROSS_VENUE
    assert d.scale == pytest.approx(50_000 / 120_000)


def test_resize_too_small_is_a_rejection() -> None:
    d = gov(max_order_notional_usd=1_000).decide(pair_intent("1.0"), account(), MARKET, T0)
    assert d.outcome is Outcome.REJECT
    assert [h.code for h in d.hits] == [DenyCode.MAX_ORDER_NOTIONAL, DenyCode.BELOW_MIN_SIZE]


def test_daily_loss_sets_reducing_until_next_utc_day() -> None:
    g = gov()
    day0 = (T0 // DAY) * DAY
    g.on_tick(account(100_000), day0)
    tr, _ = g.on_tick(account(97_999), day0 + 3600 * NS_PER_SEC)
    assert tr is not None and tr.to_state is TradingState.REDUCING and tr.code is DenyCode.DAILY_LOSS_LIMIT
    d = g.decide(pair_intent(), account(97_999), MARKET, day0 + 3600 * NS_PER_SEC)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STATE_REDUCING
    d = g.decide(exit_intent(), account(97_999, HELD), MARKET, day0 + 3600 * NS_PER_SEC)
    assert d.outcome is Outcome.APPROVE
    tr, _ = g.on_tick(account(97_999), day0 + DAY)
    assert tr is not None and tr.to_state is TradingState.ACTIVE


def test_drawdown_halts_and_the_governor_flattens_through_its_own_door() -> None:
    g = gov()
    g.on_tick(account(100_000, HELD), T0)
    tr, intents = g.on_tick(account(89_999, HELD), T0 + 10 * DAY)
    assert tr is not None and tr.to_state is TradingState.HALTED and tr.code is DenyCode.MAX_DRAWDOWN
    assert tr.inputs["drawdown_pct"] == pytest.approx(0.10001)
    assert {(i.legs[0].instrument_id, i.legs[0].side) for i in intents} == {(BTC_SPOT, Side.SELL), (BTC_PERP, Side.BUY)}
    assert all(i.flatten and i.origin is Origin.GOVERNOR for i in intents)
    for intent in intents:
        assert g.decide(intent, account(89_999, HELD), MARKET, T0 + 10 * DAY).outcome is Outcome.APPROVE
    # in HALTED, strategies may place nothing, not even exits; a new day does not lift it
    d = g.decide(exit_intent(), account(89_999, HELD), MARKET, T0 + 10 * DAY)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STATE_HALTED
    tr, _ = g.on_tick(account(89_999, HELD), T0 + 12 * DAY)
    assert g.trading_state is TradingState.HALTED


def test_operator_flatten_passes_in_halted() -> None:
    g = gov()
    g.set_state(TradingState.HALTED, T0, "operator", "test")
    d = g.decide(exit_intent(Origin.OPERATOR, flatten=True), account(positions=HELD), MARKET, T0)
    assert d.outcome is Outcome.APPROVE


def test_an_exit_label_that_would_grow_a_position_is_treated_as_an_entry() -> None:
    g = gov()
    g.set_state(TradingState.REDUCING, T0, "operator", "test")
    fake_exit = pair_intent("0.5", Purpose.EXIT)  # buys spot, sells perp: grows HELD
    d = g.decide(fake_exit, account(positions=HELD), MARKET, T0)
    assert d.outcome is Outcome.REJECT and not d.risk_reducing and d.hits[0].code is DenyCode.STATE_REDUCING


def test_every_decision_reaches_the_audit_sink_counted_by_rule_and_outcome() -> None:
    g = gov(max_order_notional_usd=45_000)
    g.decide(pair_intent("1.0", intent_id="a"), account(), MARKET, T0)
    g.decide(pair_intent("0.5", intent_id="b"), account(), MARKET, T0)
    audit = g.audit
    assert isinstance(audit, MemoryAudit)
    assert [d.intent.intent_id for d in audit.decisions] == ["a", "b"]
    assert audit.by_rule_outcome == {("G7", "resize"): 1, ("none", "approve"): 1}


# --- properties -----------------------------------------------------------------------------------------------------
qtys = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=3)
caps = st.floats(min_value=1_000, max_value=500_000)
held_qty = st.floats(min_value=0, max_value=5)


@settings(max_examples=2_000, deadline=None)
@given(q=qtys, cap=caps, venue_cap=caps, held=held_qty, price=st.floats(min_value=100, max_value=200_000))
def test_property_approved_notional_never_exceeds_caps_and_resize_never_grows(q, cap, venue_cap, held, price) -> None:
    g = Governor(RulesConfig(g7=G7Config(max_order_notional_usd=cap, max_gross_venue_usd=venue_cap,
                                         max_gross_total_usd=max(venue_cap, 600_000))), INSTRUMENTS)
    market = {BTC_SPOT: snap(BTC_SPOT, price, half_spread=price * 1e-4),
              BTC_PERP: snap(BTC_PERP, price, half_spread=price * 1e-4)}
    positions = {BTC_SPOT: held, BTC_PERP: -held} if held else {}
    acct = account(positions=positions, prices={BTC_SPOT: price, BTC_PERP: price})
    intent = pair_intent(str(q))
    d = g.decide(intent, acct, market, T0)
    for o, leg in zip(d.orders, intent.legs, strict=False):
        assert o.qty <= leg.qty  # a resize never grows
        assert float(o.qty) * price <= cap * (1 + 1e-9)
    added = sum(float(o.qty) * price for o in d.orders)
    if d.orders:
        assert acct.gross_by_venue.get("binance", 0.0) + added <= venue_cap * (1 + 1e-9)
    # same inputs -> same decision
    again = Governor(g.cfg, INSTRUMENTS).decide(intent, acct, market, T0)
    assert (again.outcome, again.scale, again.orders) == (d.outcome, d.scale, d.orders)


@settings(max_examples=2_000, deadline=None)
@given(q=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.5"), places=3),
       state=st.sampled_from([TradingState.ACTIVE, TradingState.REDUCING]),
       age=st.integers(min_value=0, max_value=10 * DAY), cap=caps)
def test_property_risk_reducing_intents_pass_in_active_and_reducing(q, state, age, cap) -> None:
    g = Governor(RulesConfig(g7=G7Config(max_order_notional_usd=cap, max_gross_venue_usd=cap,
                                         max_gross_total_usd=cap)), INSTRUMENTS)
    g.set_state(state, T0, "operator", "test")
    intent = pair_intent(str(q), Purpose.EXIT, spot_side=Side.SELL)
    d = g.decide(intent, account(positions=HELD), MARKET, T0 + age)  # even with stale data, exits pass
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
    assert [o.qty for o in d.orders] == [q, q]


def test_unknown_instrument_is_rejected() -> None:
    intent = OrderIntent("u", Origin.STRATEGY, "t", Purpose.ENTRY,
                         (IntentLeg("binance:DOGE/USDT", Side.BUY, Decimal(1)),), T0)
    d = gov().decide(intent, account(), MARKET, T0)
    assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.UNKNOWN_INSTRUMENT
