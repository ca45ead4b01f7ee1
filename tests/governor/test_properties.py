"""Governor invariants, checked on thousands of generated cases (hypothesis, ≥ 2,000 examples each)."""

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.decisions import Outcome, TradingState
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.governor import Governor
from bot.governor.calendar import expiries
from tests.helpers import BTC_PERP, BTC_SPOT, FUZZ_EXAMPLES, INSTRUMENTS, T0, account, pair_intent, rules, snap

EXAMPLES = settings(max_examples=FUZZ_EXAMPLES, deadline=None)
CALM = T0 - 30 * 86_400 * NS_PER_SEC  # no expiry within two weeks
qtys = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20"), places=3)
caps = st.floats(min_value=1_000, max_value=1_000_000)
prices = st.floats(min_value=100, max_value=200_000)
held = st.floats(min_value=-5, max_value=5)
sides = st.sampled_from([Side.BUY, Side.SELL])
BLACKOUT_FINALS = [
    int(e.final_trading_utc.timestamp()) * NS_PER_SEC
    for e in expiries(date(2023, 1, 1), date(2027, 1, 1), ("cme", "binance"))
]


def _market(price: float, ts: int) -> dict:
    return {
        BTC_SPOT: snap(BTC_SPOT, price, ts_ns=ts, half_spread=price * 1e-4),
        BTC_PERP: snap(BTC_PERP, price, ts_ns=ts, half_spread=price * 1e-4),
    }


@EXAMPLES
@given(
    q=qtys,
    q2=qtys,
    s1=sides,
    s2=sides,
    price=prices,
    spot_held=held,
    perp_held=held,
    equity=st.floats(min_value=10_000, max_value=2_000_000),
    order_cap=caps,
    venue_cap=caps,
    net_cap=caps,
)
def test_approved_size_never_exceeds_a_cap_and_a_resize_never_grows(
    q, q2, s1, s2, price, spot_held, perp_held, equity, order_cap, venue_cap, net_cap
) -> None:
    cfg = rules(
        g7={
            "max_order_notional_usd": order_cap,
            "max_gross_venue_usd": venue_cap,
            "max_gross_total_usd": max(venue_cap, 600_000),
            "max_net_venue_usd": net_cap,
            "max_net_total_usd": max(net_cap, 50_000),
            "max_daily_loss_pct": 0.02,
        },
        g6={"entries_post_only": False},
    )
    g = Governor(cfg, INSTRUMENTS)
    positions = {k: v for k, v in ((BTC_SPOT, round(spot_held, 3)), (BTC_PERP, round(perp_held, 3))) if v}
    px = {BTC_SPOT: price, BTC_PERP: price}
    acct = account(equity, positions, px)
    intent = OrderIntent(
        "p", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg(BTC_SPOT, s1, q), IntentLeg(BTC_PERP, s2, q2)), CALM
    )
    d = g.decide(intent, acct, _market(price, CALM), CALM)
    if not d.orders:
        assert d.outcome is Outcome.REJECT
        return
    gross_added = net_added = 0.0
    for o, leg in zip(d.orders, intent.legs, strict=True):
        assert o.qty <= leg.qty and o.side is leg.side  # a resize never grows and never turns
        notional = float(o.qty) * price
        assert notional <= order_cap * (1 + 1e-9)
        pos = positions.get(o.instrument_id, 0.0)
        signed = float(o.qty) * o.side.sign
        gross_added += (abs(pos + signed) - abs(pos)) * price
        net_added += signed * price
    tol = 1e-6 * max(1.0, acct.gross_total + abs(gross_added))
    if gross_added > tol:
        assert acct.gross_total + gross_added <= venue_cap + tol
        lev_cap = g.reads_at(_market(price, CALM), CALM).leverage(BTC_PERP).max_leverage
        assert acct.gross_total + gross_added <= lev_cap * equity + tol
    net_after = acct.net_total + net_added
    assert abs(net_after) <= net_cap + tol or abs(net_after) <= abs(acct.net_total) + tol


@EXAMPLES
@given(
    frac=st.floats(min_value=0.01, max_value=1.0),
    state=st.sampled_from([TradingState.ACTIVE, TradingState.REDUCING]),
    age=st.integers(min_value=0, max_value=10 * 86_400 * NS_PER_SEC),
    cap=caps,
    when=st.sampled_from(BLACKOUT_FINALS),
    before=st.integers(min_value=0, max_value=48 * 3600),
)
def test_risk_reducing_intents_pass_in_active_and_reducing(frac, state, age, cap, when, before) -> None:
    g = Governor(
        rules(
            g7={
                "max_order_notional_usd": cap,
                "max_gross_venue_usd": cap,
                "max_gross_total_usd": cap,
                "max_net_venue_usd": min(cap, 25_000),
                "max_net_total_usd": cap,
            }
        ),
        INSTRUMENTS,
    )
    g.set_state(state, T0, "operator", "test")
    now = when - before * NS_PER_SEC  # inside an expiry blackout, with data up to 10 days stale
    held = {BTC_SPOT: 2.0, BTC_PERP: -2.0}
    q = Decimal(repr(round(2.0 * frac, 3))) or Decimal("0.001")
    intent = pair_intent(str(max(q, Decimal("0.001"))), Purpose.EXIT, spot_side=Side.SELL, ts_ns=now)
    d = g.decide(intent, account(positions=held), _market(60_000.0, now - age), now)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
    assert [o.qty for o in d.orders] == [leg.qty for leg in intent.legs]


@EXAMPLES
@given(
    when=st.sampled_from(BLACKOUT_FINALS),
    before=st.integers(min_value=1, max_value=48 * 3600 - 1),
    q=qtys,
    s1=sides,
    s2=sides,
    lev=st.integers(min_value=1, max_value=5),
    perp_held=held,
)
def test_no_new_leveraged_position_opens_inside_a_blackout(when, before, q, s1, s2, lev, perp_held) -> None:
    g = Governor(rules(g7={"max_net_venue_usd": 25_000}), INSTRUMENTS)
    now = when - before * NS_PER_SEC
    positions = {BTC_PERP: round(perp_held, 3)} if round(perp_held, 3) else {}
    acct = account(positions=positions)
    g.on_tick(acct, _market(60_000.0, now), now)
    intent = OrderIntent(
        "b",
        Origin.STRATEGY,
        "t",
        Purpose.ENTRY,
        (IntentLeg(BTC_SPOT, s1, q), IntentLeg(BTC_PERP, s2, q, leverage=lev)),
        now,
    )
    d = g.decide(intent, acct, _market(60_000.0, now), now)
    for o in d.orders:
        if o.instrument_id == BTC_PERP:
            pos = positions.get(BTC_PERP, 0.0)
            assert abs(pos + float(o.qty) * o.side.sign) <= abs(pos) + 1e-12  # never grows the perp


@EXAMPLES
@given(
    q=qtys,
    price=prices,
    spot_held=held,
    equity=st.floats(min_value=10_000, max_value=2_000_000),
    offset_h=st.integers(min_value=0, max_value=24 * 120),
)
def test_same_inputs_give_the_same_decision(q, price, spot_held, equity, offset_h) -> None:
    now = CALM + offset_h * 3600 * NS_PER_SEC
    positions = {BTC_SPOT: round(spot_held, 3)} if round(spot_held, 3) else {}
    acct = account(equity, positions, {BTC_SPOT: price, BTC_PERP: price})
    intent = pair_intent(str(q), ts_ns=now)
    a = Governor(rules(), INSTRUMENTS).decide(intent, acct, _market(price, now), now)
    b = Governor(rules(), INSTRUMENTS).decide(intent, acct, _market(price, now), now)
    assert (a.outcome, a.scale, a.hits, a.orders) == (b.outcome, b.scale, b.hits, b.orders)
