"""G6 execution hygiene: stale price or funding, wide spreads, jumpy markets and insane prices block entries."""

from dataclasses import replace

import pytest

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, Purpose, Side
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, batch, governor, hit, pair_intent, snap

NOW = T0 - 30 * 86_400 * NS_PER_SEC
HELD = {BTC_SPOT: 0.5, BTC_PERP: -0.5}


def market(perp=None, spot=None, ts=NOW):
    return {BTC_SPOT: spot or snap(BTC_SPOT, 60_000.0, ts_ns=ts), BTC_PERP: perp or snap(BTC_PERP, 60_000.0, ts_ns=ts)}


def test_stale_snapshot_blocks_entries_but_lets_exits_through() -> None:
    later = NOW + 121 * NS_PER_SEC  # max_snapshot_age_secs 120
    g = governor()
    d = g.decide(pair_intent(ts_ns=later), account(), market(), later)
    h = hit(d, DenyCode.STALE_SNAPSHOT)
    assert d.outcome is Outcome.REJECT and h.inputs["age_secs"] == 121.0 and d.orders == ()
    d = g.decide(
        pair_intent("0.5", Purpose.EXIT, spot_side=Side.SELL, ts_ns=later), account(positions=HELD), market(), later
    )
    assert d.outcome is Outcome.APPROVE and d.risk_reducing


@pytest.mark.parametrize(
    "perp, code",
    [
        (snap(BTC_PERP, 60_000.0, ts_ns=NOW, index=57_000.0), DenyCode.PRICE_SANITY),  # mark 5.3% off index
        (snap(BTC_PERP, 60_000.0, ts_ns=NOW, last=63_000.0), DenyCode.PRICE_SANITY),  # last 5% off mark
        (snap(BTC_PERP, 60_000.0, ts_ns=NOW, half_spread=-1.0), DenyCode.PRICE_SANITY),  # crossed book
        (snap(BTC_PERP, 60_000.0, ts_ns=NOW, half_spread=90.0), DenyCode.SPREAD_TOO_WIDE),  # 30 bps > 25
        (replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), funding_rate=None), DenyCode.FUNDING_STALE),
        (
            replace(snap(BTC_PERP, 60_000.0, ts_ns=NOW), ts_next_funding_ns=NOW - 2 * 3600 * NS_PER_SEC),
            DenyCode.FUNDING_STALE,
        ),  # last settlement 10h ago
    ],
)
def test_bad_markets_block_entries(perp, code) -> None:
    d = governor().decide(pair_intent(ts_ns=NOW), account(), market(perp), NOW)
    assert d.outcome is Outcome.REJECT and hit(d, code) is not None and hit(d, code).rule == "G6"


def test_short_horizon_volatility_gate() -> None:
    g = governor()
    for k, p in enumerate([60_000.0, 66_000.0, 59_000.0, 67_000.0]):  # ±10% every 8h: ~300% annualized
        g.observe(batch(snap(BTC_PERP, p, ts_ns=NOW + k)))
    d = g.decide(pair_intent(ts_ns=NOW), account(), market(), NOW)
    h = hit(d, DenyCode.VOLATILITY_GATE)
    assert h is not None and h.inputs["short_vol"] > 2.5


def test_a_venue_that_keeps_rejecting_pauses_entries_there_but_not_exits() -> None:
    """g6: 3 rejections within 300 s pause entries on that venue until 900 s after the last; exits still go; the
    pause survives a restart (exported with the governor's state) and ends on time."""
    g = governor()
    s = NS_PER_SEC
    assert g.venue_rejected("binance", "insufficient_funds", NOW - 400 * s) is None  # outside the window later
    assert g.venue_rejected("binance", "insufficient_funds", NOW - 200 * s) is None
    assert g.venue_rejected("binance", "invalid_order", NOW - 100 * s) is None  # only 2 within 300 s
    until = g.venue_rejected("binance", "invalid_order", NOW - 10 * s)
    assert until == NOW + 890 * s
    d = g.decide(pair_intent(ts_ns=NOW), account(), market(), NOW)
    h = hit(d, DenyCode.VENUE_UNHEALTHY)
    assert d.outcome is Outcome.REJECT and h.inputs["venue"] == "binance" and h.inputs["last_reason"] == "invalid_order"
    d = g.decide(
        pair_intent("0.5", Purpose.EXIT, spot_side=Side.SELL, ts_ns=NOW), account(positions=HELD), market(), NOW
    )
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
    restarted = governor()
    restarted.import_state(g.export_state())
    assert restarted.decide(pair_intent(ts_ns=NOW), account(), market(), NOW).outcome is Outcome.REJECT
    later = NOW + 891 * s
    d = restarted.decide(pair_intent(ts_ns=later), account(), market(ts=later), later)
    assert not any(h.code is DenyCode.VENUE_UNHEALTHY for h in d.hits)
