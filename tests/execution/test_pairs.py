"""Leg risk (G9): a rejected, slow or partial second leg is back under the unhedged limit within leg_timeout,
through the governor, and the ledger still balances."""

from decimal import Decimal

from bot.accounts import AccountMode
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.execution.pairs import PairState
from bot.venues.paper import PaperParams
from tests.helpers import BTC_PERP, BTC_SPOT, rules
from tests.scenario_kit import audit_of, path, run, tick_log_of

STEP = 10 * NS_PER_SEC  # ten-second ticks: leg_timeout (30 s) spans three of them
LIMIT = 2_000.0


def _pair(qty: str, lev: int = 1):
    def make(view, now):
        return [
            OrderIntent(
                f"p-{now}",
                Origin.STRATEGY,
                "t",
                Purpose.ENTRY,
                (
                    IntentLeg(BTC_SPOT, Side.BUY, Decimal(qty)),
                    IntentLeg(BTC_PERP, Side.SELL, Decimal(qty), leverage=lev),
                ),
                now,
            )
        ]

    return make


def _unhedged_after_timeout(ex) -> list[float]:
    """End-of-tick delta (USD) on ticks later than leg_timeout after the first lead fill."""
    first = min(f.ts_ns for f in ex.stats.fills_log)
    out = []
    for ts, _, pos in tick_log_of(ex):
        if ts >= first + 30 * NS_PER_SEC:
            out.append(abs(sum(pos.values())) * 60_000)
    return out


def _balanced(ex) -> None:
    venues = ex.gateways.values()
    change = sum(v.equity() for v in venues) - ex.ledger.initial_equity
    assert abs(change - ex.ledger.parts(ex.marks).total) < Decimal("1e-9")


def test_rejected_hedge_is_completed_or_unwound_within_leg_timeout() -> None:
    # a split account, 90k in the spot wallet and 10k in the derivatives wallet: 1.5 BTC spot fits, the 1x perp
    # short (90k margin) is refused by the venue
    prices = [60_000.0, 59_900.0] + [59_900.0] * 10
    split = PaperParams(latency_secs=0.0, account_mode=AccountMode.SPLIT, derivatives_share=Decimal("0.1"))
    ex = run(path(prices, step=STEP), {0: _pair("1.5")}, rules(), params=split)
    assert ex.stats.rejections["insufficient_funds"] >= 1
    assert all(u <= LIMIT for u in _unhedged_after_timeout(ex))
    kinds = [d.intent.intent_id.split("-")[1] for d in audit_of(ex).decisions if d.intent.origin is Origin.GOVERNOR]
    assert kinds == ["complete", "unwind"]  # the completion was refused too: the lead leg is unwound
    assert ex.ledger.qty(BTC_SPOT) == 0
    _balanced(ex)


def test_slow_post_only_hedge_is_completed_by_the_governor() -> None:
    # the hedge joins the book (post_only) and the price drifts away from it: G9 completes with a marketable order
    prices = [60_000.0, 59_950.0, 59_940.0, 59_930.0, 59_925.0, 59_920.0, 59_915.0, 59_910.0]
    ex = run(path(prices, step=STEP, range_pct=0.0), {0: _pair("0.5")}, rules(g6={"hedge_leg": "post_only"}))
    kinds = [d.intent.intent_id.split("-")[1] for d in audit_of(ex).decisions if d.intent.origin is Origin.GOVERNOR]
    assert "complete" in kinds
    assert ex.ledger.qty(BTC_SPOT) == -ex.ledger.qty(BTC_PERP) != 0
    assert all(u <= LIMIT for u in _unhedged_after_timeout(ex))
    _balanced(ex)


def test_partial_fills_are_hedged_fill_by_fill() -> None:
    prices = [60_000.0, 59_900.0] + [59_900.0] * 6
    params = PaperParams(initial_cash=Decimal(100_000), latency_secs=0.0, partial_fill_fraction=0.25)
    ex = run(path(prices, step=STEP), {0: _pair("0.8")}, rules(), params=params)
    spot_fills = [f.qty for f in ex.stats.fills_log if f.instrument_id == BTC_SPOT]
    assert sum(spot_fills) == Decimal("0.8")
    assert ex.ledger.qty(BTC_PERP) == Decimal("-0.8")
    assert all(u <= LIMIT for u in _unhedged_after_timeout(ex))
    assert ex.pairs.transitions[PairState.HEDGED] >= 1
    _balanced(ex)


def test_a_venue_rejecting_again_and_again_is_paused_by_the_governor() -> None:
    """The executor tells the governor of every venue rejection; after g6.venue_reject_limit (3) the governor stops
    sending entries there itself (G6 venue_unhealthy) instead of letting the venue refuse them one by one."""
    from bot.decisions import DenyCode

    def too_big(view, now):  # 1.8 BTC of spot is 108k; the paper account holds 100k: the venue refuses it
        return [
            OrderIntent(
                f"big-{now}", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg(BTC_SPOT, Side.BUY, Decimal("1.8")),), now
            )
        ]

    prices = [60_000.0] * 8
    loose = {
        "max_order_notional_usd": 1e6,
        "max_net_venue_usd": 1e6,
        "max_net_total_usd": 1e6,
        "max_risk_per_position_pct": 1.0,
    }  # the governor's own limits out of the way: the venue decides
    ex = run(path(prices, step=STEP), {k: too_big for k in range(7)}, rules(g6={"entries_post_only": False}, g7=loose))
    assert ex.stats.rejections["insufficient_funds"] == 3  # three reached the venue ...
    refused = [d for d in audit_of(ex).decisions if any(h.code is DenyCode.VENUE_UNHEALTHY for h in d.hits)]
    assert len(refused) == 4 and all(not d.orders for d in refused)  # ... the next four stopped at the door
    assert refused[0].hits[0].inputs["last_reason"] == "insufficient_funds"


class _LateFills:
    """A venue whose order-state answer comes before its trade records (a live venue: the FILLED reply, then the
    trades a poll later)."""

    venue = "binance"

    def __init__(self) -> None:
        self.events: list[object] = []

    def drain_events(self) -> list[object]:
        out, self.events = self.events, []
        return out


def test_an_order_the_venue_calls_filled_keeps_its_instrument_busy_until_its_fills_are_booked() -> None:
    """Found live on the emulator: the hedge's FILLED answer arrived before its trade, the pair looked unhedged, and
    S1 sold the spot leg — leaving the perp short open. The order now waits in ``awaiting_fills`` (its instrument
    busy) until fills for what the venue reported are booked; a wait past its patience is an error, not a freeze."""
    import dataclasses

    from bot.domain import Fill, Liquidity, Order, OrderStatus, OrderType, OrderUpdate

    ex = run(path([60_000.0] * 3, step=STEP), {}, rules())
    venue = _LateFills()
    ex.gateways = {"binance": venue}
    order = Order("c-hedge", "i", "d", BTC_PERP, Side.SELL, Decimal("0.5"), OrderType.MARKET, Purpose.ENTRY, 0)
    ex.orders[order.client_order_id] = order
    ex.working[order.client_order_id] = order
    venue.events = [OrderUpdate("binance", "c-hedge", OrderStatus.FILLED, Decimal("0.5"), 1)]
    ex.absorb()
    assert "c-hedge" not in ex.working and "c-hedge" in ex.awaiting_fills
    fill = Fill(
        "binance", "t1", "c-hedge", BTC_PERP, Side.SELL, Decimal("0.3"), Decimal(60_000), Decimal(0), Liquidity.TAKER, 2
    )
    venue.events = [fill]
    ex.absorb()
    assert "c-hedge" in ex.awaiting_fills  # 0.3 of 0.5 booked
    venue.events = [dataclasses.replace(fill, trade_id="t2", qty=Decimal("0.2"))]
    ex.absorb()
    assert "c-hedge" not in ex.awaiting_fills and ex.ledger.qty(BTC_PERP) == Decimal("-0.5")
