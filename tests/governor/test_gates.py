"""Standing gates (issue 14 item 5): the governor publishes what its standing state refuses to any entry, and a
strategy does not propose, tick after tick, what is certain to be refused."""

from dataclasses import replace
from decimal import Decimal

from bot.decisions import TradingState
from bot.domain import NS_PER_SEC
from bot.governor.context import AccountView
from bot.governor.gates import EntryGates
from bot.strategies.base import StrategyView
from bot.strategies.s1_spot_perp import SpotPerpFunding
from bot.strategies.settings import S1Settings
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, T0, batch, governor, snap

H8 = 8 * 3600 * NS_PER_SEC
PAIR = (INSTRUMENTS[BTC_SPOT], INSTRUMENTS[BTC_PERP])
ACCT = AccountView(100_000.0, {}, {}, 0.0)


def test_the_governor_gates_on_its_trading_state_the_store_its_ladders_and_venue_cool_offs() -> None:
    gov = governor()
    assert gov.entry_gates(ACCT, None, {}, T0).refuses(PAIR) == ""
    assert gov.entry_gates(replace(ACCT, store_ok=False), None, {}, T0).refuses(PAIR) == "store_down"
    gov.ladders.update("BTC", "crowding", 2.0, gov.cfg.g3.crowding, gov.cfg.g3.hysteresis_pct, T0)
    gates = gov.entry_gates(ACCT, None, {}, T0)
    assert gates.refuses(PAIR) == "ladder_stage_1" and gates.refuses((INSTRUMENTS["binance:ETH/USDT"],)) == ""
    for k in range(gov.cfg.g6.venue_reject_limit):
        gov.venue_rejected("bybit", "insufficient_funds", T0 + k)
    assert gov.entry_gates(ACCT, None, {}, T0 + 10).venues == {"bybit": "venue_unhealthy"}
    assert gov.entry_gates(ACCT, None, {}, T0 + int(gov.cfg.g6.venue_cooloff_secs * NS_PER_SEC) + 10).venues == {}
    # G1: an account already at its leverage cap (5x in calm markets, the floor 1x without signals) has no room
    full = replace(ACCT, gross_total=600_000.0)
    reads = gov.reads_at({BTC_PERP: snap(BTC_PERP)}, T0)
    assert gov.entry_gates(full, reads, {BTC_PERP: snap(BTC_PERP)}, T0).instruments == {BTC_PERP: "leverage_cap"}
    assert gov.entry_gates(ACCT, reads, {BTC_PERP: snap(BTC_PERP)}, T0).instruments == {}
    gov.set_state(TradingState.REDUCING, T0, "operator", "test")
    assert gov.entry_gates(ACCT, None, {}, T0).refuses(PAIR) == "state_reducing"


def test_a_strategy_does_not_propose_an_entry_the_standing_state_refuses() -> None:
    cfg = S1Settings(funding_lookback_periods=3, entry_threshold_apr=0.08)
    strategy = SpotPerpFunding(cfg, {k: v for k, v in INSTRUMENTS.items() if k in (BTC_SPOT, BTC_PERP)})
    closed = EntryGates(closed="state_reducing")
    out = []
    for k in range(6):
        ts = T0 + k * H8
        spot = snap(BTC_SPOT, 60_000.0, ts_ns=ts, half_spread=3.0)
        perp = snap(BTC_PERP, 60_010.0, ts_ns=ts, half_spread=1.5, rate=0.0003, settle=True)
        gates = closed if k < 5 else EntryGates()
        out.append(
            strategy.on_batch(batch(spot, perp), StrategyView({BTC_SPOT: spot, BTC_PERP: perp}, {}, set(), gates), ts)
        )
    assert out[:5] == [[]] * 5 and strategy.stats["gated_state_reducing"] == 5  # its windows still fill meanwhile
    (entry,) = out[5]  # the gate lifts: the entry goes at once
    assert entry.legs[0].qty == Decimal("0.333")
