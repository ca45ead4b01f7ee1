"""The governor on small synthetic paths, through the real executor and paper venue."""

from decimal import Decimal

from bot.accounts import MarginMode
from bot.decisions import DenyCode, Outcome
from bot.domain import IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.governor.margin import venue_liquidation_price
from bot.venues.paper import PaperParams
from tests.helpers import BTC_PERP, BTC_SPOT, rules
from tests.scenario_kit import BYBIT_PERP, audit_of, path, run, tick_log_of

TAKER = rules(g6={"entries_post_only": False}, g7={"max_net_venue_usd": 30_000})
# margin management off (a liquidation distance can never be "nearer than 0%"): collateral has run out
NO_TOPUP = rules(g6={"entries_post_only": False}, g7={"max_net_venue_usd": 30_000}, g2={"topup_below_pct": 0.0})


def test_a_volatility_spike_halves_leverage() -> None:
    calm = [60_000 * (1 + 0.004 * (-1) ** k) for k in range(30)]
    wild = [60_000 * (1 + 0.09 * (-1) ** k) for k in range(25)]
    ex = run(path(calm + wild), {})
    cap = ex.reads.leverage(BTC_PERP)
    assert cap.halved and cap.realized_vol > 1.0
    assert cap.max_leverage == 0.5  # floor 1x, halved
    ex2 = run(path(calm), {})
    calm_cap = ex2.reads.leverage(BTC_PERP)
    assert not calm_cap.halved and calm_cap.max_leverage == 5.0


def test_liquidation_cascade_walks_the_ladder_to_derisk_before_liquidation() -> None:
    # a hedged cross-venue book: 3x long Binance perp, 3x short Bybit perp, each in isolated margin (in cross
    # margin the account's free cash keeps the long far from liquidation) and no idle collateral to move to them.
    # Price slides 4% a bar with funding flipping negative (a long-liquidation cascade): the long leg heads for its
    # liquidation price.
    prices = [60_000.0] * 3 + [60_000.0 * 0.96**k for k in range(1, 14)]
    rates = [0.0001] * 3 + [-0.0002 * k for k in range(1, 14)]

    def pair(view, now):
        return [
            OrderIntent(
                f"e-{now}",
                Origin.STRATEGY,
                "test",
                Purpose.ENTRY,
                (
                    IntentLeg(BTC_PERP, Side.BUY, Decimal("0.3"), leverage=3),
                    IntentLeg(BYBIT_PERP, Side.SELL, Decimal("0.3"), leverage=3),
                ),
                now,
            )
        ]

    isolated = PaperParams(latency_secs=0.0, margin_mode=MarginMode.ISOLATED)
    ex = run(path(prices, rates), {1: pair}, NO_TOPUP, params=isolated)
    assert not audit_of(ex).transfers
    entry = next(f for f in ex.stats.fills_log if f.instrument_id == BTC_PERP)
    liq = venue_liquidation_price(float(entry.price), True, 3, 0.004)
    assert ex.stats.liquidations == 0
    stages = [ladders.get("BTC", 0) for _, ladders, _ in tick_log_of(ex)]
    assert max(stages) >= 2
    closed_at = next(ts for ts, _, pos in tick_log_of(ex)[2:] if BTC_PERP not in pos)
    price_then = next(p for (ts, _, _), p in zip(tick_log_of(ex), prices, strict=True) if ts == closed_at)
    assert price_then > liq * 1.05  # flat with room to spare (stage 3 fires at 10% distance; bars move 4%)
    assert min(prices) < liq  # ... and the path did go through the liquidation price afterwards
    kinds = [d.intent.intent_id.split("-")[1] for d in audit_of(ex).decisions if d.intent.origin is Origin.GOVERNOR]
    # trims first (crowding turning, then liquidation distance), then the close; stage 2's hedge had no residual
    # delta to neutralise in a hedged book
    assert kinds[0] == "trim" and kinds[-1] == "derisk" and "hedge" not in kinds
    issued = {k: n for c in audit_of(ex).interventions.values() for k, n in c.items() if k.startswith("issued_")}
    assert sum(issued.values()) == len(kinds) and issued.get("issued_derisk", 0) >= 1
    measures = {(e.measure, e.to_stage) for e in audit_of(ex).ladder_events if e.key == "BTC"}
    assert ("liq_distance", 3) in measures and ("crowding", 1) in measures
    assert BYBIT_PERP not in tick_log_of(ex)[-1][2]  # both legs closed together: nothing left unhedged

    # the same path with margin management on: idle collateral goes to the isolated long, its liquidation moves
    # away as the price falls, and the liquidation-distance ladder never fires
    managed = run(path(prices, rates), {1: pair}, TAKER, params=isolated)
    assert managed.stats.liquidations == 0
    moved = [t for t in audit_of(managed).transfers if t.instrument_id == BTC_PERP]
    assert len(moved) >= 2 and all(t.to_wallet == "isolated" for t in moved)
    assert not any(e.measure == "liq_distance" for e in audit_of(managed).ladder_events)


def test_stale_feed_blocks_entries_but_lets_exits_through() -> None:
    prices = [60_000.0] * 8

    def legs(q: str, sell_spot: bool = False) -> tuple[IntentLeg, ...]:
        side = Side.SELL if sell_spot else Side.BUY
        return IntentLeg(BTC_SPOT, side, Decimal(q)), IntentLeg(BTC_PERP, side.opposite, Decimal(q))

    plan = {
        1: lambda view, now: [OrderIntent(f"in-{now}", Origin.STRATEGY, "test", Purpose.ENTRY, legs("0.2"), now)],
        5: lambda view, now: [
            OrderIntent(f"new-{now}", Origin.STRATEGY, "test", Purpose.ENTRY, legs("0.1"), now),
            OrderIntent(f"out-{now}", Origin.STRATEGY, "test", Purpose.EXIT, legs("0.2", sell_spot=True), now),
        ],
    }
    ex = run(path(prices, drop_perp_after=2), plan, TAKER)  # the perp feed goes silent after bar 2
    decisions = {d.intent.intent_id.split("-")[0]: d for d in audit_of(ex).decisions}
    new, out = decisions["new"], decisions["out"]
    assert new.outcome is Outcome.REJECT and new.hits[0].code is DenyCode.STALE_SNAPSHOT
    assert out.outcome is Outcome.APPROVE and out.risk_reducing
    assert ex.ledger.qty(BTC_SPOT) == 0 and ex.ledger.qty(BTC_PERP) == 0
