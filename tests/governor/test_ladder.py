"""G3 ladder: stages only tighten while the measure worsens, reset past the hysteresis band, act through the door."""

import math

import pytest

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, Side
from bot.governor.ladder import Ladders, advance, stage_for
from bot.governor.rules_config import LadderBands
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, governor, hit, pair_intent, snap

DD = LadderBands(stages=(0.03, 0.05, 0.08), worse="higher")
LIQ = LadderBands(stages=(0.30, 0.20, 0.10), worse="lower")
H = 3600 * NS_PER_SEC
T_CALM = T0 - 30 * 86_400 * NS_PER_SEC


@pytest.mark.parametrize(
    "bands, value, stage",
    [
        (DD, 0.0, 0),
        (DD, 0.029, 0),
        (DD, 0.03, 1),
        (DD, 0.06, 2),
        (DD, 0.08, 3),
        (DD, 0.5, 3),
        (LIQ, 0.9, 0),
        (LIQ, 0.30, 1),
        (LIQ, 0.15, 2),
        (LIQ, 0.05, 3),
    ],
)
def test_stage_for(bands, value, stage) -> None:
    assert stage_for(value, bands) == stage


def test_stages_only_tighten_while_the_measure_worsens_and_reset_past_the_band() -> None:
    path = [0.01, 0.035, 0.06, 0.04, 0.031, 0.025, 0.023, 0.09, 0.01]
    stages, s = [], 0
    for v in path:
        s = advance(s, v, DD, hysteresis=0.2)
        stages.append(s)
    # 0.04 and 0.031 are better than 0.06 but not past 3% × 0.8 = 2.4%: hold stage 2; 0.023 resets
    assert stages == [0, 1, 2, 2, 2, 2, 0, 3, 0]


def test_unavailable_measure_holds_the_stage_and_widening_delays_it() -> None:
    assert advance(2, None, DD, 0.2) == 2
    assert stage_for(0.06, DD, widen=1.5) == 1  # final week: bands 4.5/7.5/12%


def test_ladders_report_events_and_clear_when_the_position_is_gone() -> None:
    lad = Ladders()
    ev = lad.update("BTC", "liq_distance", 0.15, LIQ, 0.2, 1)
    assert (ev.from_stage, ev.to_stage) == (0, 2) and lad.stage("BTC") == 2
    assert lad.update("BTC", "liq_distance", 0.16, LIQ, 0.2, 2) is None
    (cleared,) = lad.clear("BTC", 3)
    assert (cleared.from_stage, cleared.to_stage) == (2, 0) and math.isnan(cleared.value) and lad.stage("BTC") == 0


HELD = {BTC_SPOT: 1.0, BTC_PERP: -1.0}


def _market(px_spot: float, px_perp: float, ts: int) -> dict:
    return {BTC_SPOT: snap(BTC_SPOT, px_spot, ts_ns=ts), BTC_PERP: snap(BTC_PERP, px_perp, ts_ns=ts)}


def test_liquidation_distance_walks_trim_hedge_derisk_through_the_door() -> None:
    g = governor()
    liq = {BTC_PERP: 100_000.0}  # a short perp liquidating at 100k
    actions = []
    for k, price in enumerate([60_000, 72_000, 79_000, 86_000, 92_000]):
        ts = T_CALM + k * 8 * H
        held = HELD if not actions or actions[-1][0] != "derisk" else {}
        res = g.on_tick(account(300_000, held, {BTC_SPOT: price, BTC_PERP: price}, liq), _market(price, price, ts), ts)
        for intent in res.intents:
            d = g.decide(
                intent, account(300_000, held, {BTC_SPOT: price, BTC_PERP: price}, liq), _market(price, price, ts), ts
            )
            assert d.outcome is Outcome.APPROVE and d.risk_reducing
            actions.append(
                (intent.intent_id.split("-")[1], price, [(o.instrument_id, o.side, str(o.qty)) for o in d.orders])
            )
    # distance to liquidation (as a share of the mark): 72k 38.9% -> nothing; 79k 26.6% -> trim 25% of both legs;
    # 86k 16.3% -> hedge (already delta-neutral: nothing to do); 92k 8.7% -> close all, before liquidation
    assert actions[0] == ("trim", 79_000, [(BTC_SPOT, Side.SELL, "0.250"), (BTC_PERP, Side.BUY, "0.250")])
    assert actions[-1][0] == "derisk" and actions[-1][1] == 92_000
    assert {leg[0] for leg in actions[-1][2]} == {BTC_SPOT, BTC_PERP}
    assert [a[0] for a in actions] == ["trim", "derisk"]


def test_a_laddered_position_refuses_new_entries_until_it_resets() -> None:
    g = governor()
    ts = T_CALM
    g.on_tick(account(300_000, HELD, liq_prices={BTC_PERP: 66_000.0}), _market(60_000, 60_000, ts), ts)
    d = g.decide(
        pair_intent("0.1", ts_ns=ts),
        account(300_000, HELD, liq_prices={BTC_PERP: 66_000.0}),
        _market(60_000, 60_000, ts),
        ts,
    )
    h = hit(d, DenyCode.LADDER_DERISK)
    assert d.outcome is Outcome.REJECT and h.rule == "G3" and h.inputs["stage"] == 3


def test_account_drawdown_ladder_trims_every_position_and_stage_three_sets_reducing() -> None:
    g = governor(g7={"max_daily_loss_pct": 0.09})  # keep the daily-loss limit out of the way
    day0 = T_CALM // (24 * H) * 24 * H
    g.on_tick(account(100_000, HELD), _market(60_000, 60_000, day0), day0)
    res = g.on_tick(account(96_900, HELD), _market(60_000, 60_000, day0 + H), day0 + H)
    assert [(e.key, e.to_stage) for e in res.ladder_events] == [("account", 1)]
    assert [i.intent_id.split("-")[1] for i in res.intents] == ["trim"]
    res = g.on_tick(account(91_900, HELD), _market(60_000, 60_000, day0 + 2 * H), day0 + 2 * H)
    assert res.ladder_events[0].to_stage == 3
    assert res.transition is not None and res.transition.rule == "G3" and g.trading_state.value == "reducing"
