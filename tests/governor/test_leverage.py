"""G1 volatility-scaled leverage: clamp(base × target_vol / realized_vol, min, cap), halved under stress."""

import pytest

from bot.decisions import DenyCode, Outcome
from bot.governor.leverage import max_leverage
from bot.governor.rules_config import G1Config
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, governor, hit, pair_intent, snap

CFG = G1Config()  # base 3, target 0.5, min 1, cap 5, halve above 100% vol or 3x liquidations, funding > 0.03%/8h x0.75


@pytest.mark.parametrize(
    "vol, liq, funding, expected, halved",
    [
        (0.50, None, None, 3.0, False),  # at target: base
        (0.25, None, None, 5.0, False),  # calm: 6.0 clamped to the cap
        (0.75, None, None, 2.0, False),
        (0.90, None, None, 3 * 0.5 / 0.9, False),
        (1.20, None, None, 3 * 0.5 / 1.2 * 0.5, True),  # above 100% vol: halved
        (3.00, None, None, 1.0 * 0.5, True),  # the floor of 1x, then halved
        (0.50, 3.5, None, 1.5, True),  # liquidation intensity above 3x: halved
        (0.50, None, 0.0004, 3.0 * 0.75, False),  # elevated funding
        (0.50, None, -0.0004, 3.0 * 0.75, False),  # |funding|
        (None, None, None, 1.0, False),  # unknown volatility: the floor
    ],
)
def test_max_leverage_table(vol, liq, funding, expected, halved) -> None:
    cap = max_leverage(CFG, vol, liq, funding)
    assert cap.max_leverage == pytest.approx(expected)
    assert cap.halved is halved


def test_a_volatility_spike_halves_leverage() -> None:
    calm = max_leverage(CFG, 0.95).max_leverage
    spiked = max_leverage(CFG, 1.05).max_leverage
    assert spiked == pytest.approx(max(1.0, 3 * 0.5 / 1.05) * 0.5)
    assert spiked < calm / 2 + 1e-9


def test_intent_that_would_exceed_the_cap_is_resized_down() -> None:
    # no volatility known yet -> cap 1x; equity 100k, gross 80k held: a 60k pair (2 x 30k) may add only 20k
    held = {BTC_SPOT: 40_000 / 60_000, BTC_PERP: -40_000 / 60_000}
    g = governor(g7={"max_net_venue_usd": 25_000})
    m = {
        BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=T0 - 30 * 86400 * 10**9),
        BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=T0 - 30 * 86400 * 10**9),
    }
    now = T0 - 30 * 86400 * 10**9
    d = g.decide(pair_intent("0.5", ts_ns=now), account(100_000, held), m, now)
    assert d.outcome is Outcome.RESIZE
    h = hit(d, DenyCode.LEVERAGE_CAP)
    assert h.rule == "G1" and h.max_scale == pytest.approx(20_000 / 60_000)
    assert h.inputs["max_leverage"] == 1.0 and h.inputs["realized_vol"] is None
