"""G5 crowding checklist (and the signals it reads): 2 cautions halve an entry, 3 refuse it."""

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC
from bot.governor.crowding import checklist
from bot.governor.rules_config import G5Config, SignalsConfig
from bot.governor.signals import Signals, SignalTracker, funding_8h_equivalent, lower_lows_fast
from tests.helpers import BTC_PERP, BTC_SPOT, T0, account, batch, governor, hit, pair_intent, rules, snap

CALM = Signals(BTC_PERP, 0, 0.5, 0.0001, 1.0, 0.01, 0.0, 1.0, 1.0, 0, 0.0, False)


@pytest.mark.parametrize(
    "rate, interval_h, punitive",
    [
        (0.0005, 8, True),
        (0.000499, 8, False),
        (-0.0005, 8, True),  # |8h-equivalent| >= 0.05% is extreme
        (0.0000625, 1, True),
        (0.00006, 1, False),  # an hourly venue: 8 × the hourly rate
        (0.00025, 4, True),
    ],
)
def test_punitive_funding_uses_the_8h_equivalent(rate: float, interval_h: int, punitive: bool) -> None:
    f8 = funding_8h_equivalent(rate, interval_h * 3600)
    read = checklist(G5Config(), SignalsConfig(), CALM._replace(funding_8h=f8))
    assert ("funding" in read.cautions) is punitive


def test_each_signal_and_the_reduce_condition() -> None:
    cfg, sc = G5Config(), SignalsConfig()
    assert checklist(cfg, sc, CALM).cautions == ()
    assert checklist(cfg, sc, CALM._replace(oi_change=0.03, price_change=-0.03)).cautions == ("oi_vs_price",)
    assert checklist(cfg, sc, CALM._replace(liq_clusters=2)).cautions == ("liquidations",)
    assert checklist(cfg, sc, CALM._replace(skew_change=0.025)).cautions == ("skew",)
    assert checklist(cfg, sc, CALM._replace(lower_lows_fast=True)).cautions == ("structure",)
    falling = CALM._replace(price_change=-0.03, oi_elevated=0.97, funding_8h=0.0003)
    assert checklist(cfg, sc, falling).reduce
    assert not checklist(cfg, sc, falling._replace(funding_8h=0.0001)).reduce  # funding reset


def test_unavailable_signals_are_marked_and_count_only_where_the_rules_say() -> None:
    bare = CALM._replace(oi_change=None, oi_elevated=None, liq_intensity=None, liq_clusters=None, skew_change=None)
    read = checklist(G5Config(), SignalsConfig(), bare)
    assert read.cautions == () and read.unavailable == ("oi_vs_price", "liquidations", "skew")
    strict = SignalsConfig(
        unavailable_is_caution={
            "oi_vs_price": True,
            "liquidations": True,
            "skew": False,
            "structure": False,
            "funding": False,
        }
    )
    assert checklist(G5Config(), strict, bare).cautions == ("oi_vs_price", "liquidations")


def _decide_with(snapshots_perp):
    g = governor(g6={"max_short_vol": 100.0}, g3={"crowding": {"stages": (4, 5, 6), "worse": "higher"}})
    for s in snapshots_perp:
        g.observe(batch(s))
    now = snapshots_perp[-1].ts_ns
    spot = snap(BTC_SPOT, snapshots_perp[-1].mark, ts_ns=now)
    market = {BTC_SPOT: spot, BTC_PERP: snapshots_perp[-1]}
    g.on_tick(account(), market, now)
    return g.decide(pair_intent("0.1", ts_ns=now), account(), market, now)


H8 = 8 * 3600 * NS_PER_SEC
NOW = T0 - 30 * 86_400 * NS_PER_SEC


def _path(prices, rate=0.0001, oi=None, skew=None):
    out = []
    for k, p in enumerate(prices):
        s = snap(BTC_PERP, p, ts_ns=NOW + k * H8, rate=rate, low=p * 0.99 if k else None, high=p * 1.01 if k else None)
        out.append(replace(s, open_interest=None if oi is None else oi[k], skew_25d=None if skew is None else skew[k]))
    return out


def test_two_cautions_halve_three_refuse() -> None:
    flat = [60_000.0] * 6
    d = _decide_with(_path(flat))
    assert hit(d, DenyCode.CROWDING_HALF) is None and hit(d, DenyCode.CROWDING_NO_ENTRY) is None
    # punitive funding + OI up while price down
    falling = [60_000, 60_000, 60_000, 59_000, 58_500, 58_000]
    oi = [100, 100, 100, 101, 102, 104]
    d = _decide_with(_path(falling, rate=0.0006, oi=oi))
    h = hit(d, DenyCode.CROWDING_HALF)
    assert h is not None and h.max_scale == 0.5 and h.inputs["fired"] == "funding,oi_vs_price"
    # ... plus skew steepening
    d = _decide_with(_path(falling, rate=0.0006, oi=oi, skew=[0.0, 0.0, 0.0, 0.01, 0.02, 0.03]))
    h = hit(d, DenyCode.CROWDING_NO_ENTRY)
    assert h is not None and d.outcome is Outcome.REJECT and h.inputs["cautions"] == 3


def test_lower_lows_with_fast_breaks() -> None:
    assert lower_lows_fast([100, 99, 98, 95], -0.05, 0.02, 1.5) is True
    assert lower_lows_fast([100, 99, 98, 97.9], -0.01, 0.02, 1.5) is False  # lower lows, but slow
    assert lower_lows_fast([100, 101, 98, 95], -0.05, 0.02, 1.5) is False
    assert lower_lows_fast([100], -0.05, 0.02, 1.5) is None


def test_tracker_realized_vol_is_annualized_from_the_step() -> None:
    tr = SignalTracker(rules(signals={"vol_window": "16h"}).signals, step_secs=8 * 3600)
    for k, p in enumerate([100.0, 110.0, 99.0]):
        tr.update(snap(BTC_PERP, p, ts_ns=k))
    r1, r2 = math.log(1.1), math.log(0.9)
    mean = (r1 + r2) / 2
    expected = math.sqrt(((r1 - mean) ** 2 + (r2 - mean) ** 2) / 1) * math.sqrt(365 * 3)
    assert tr.get(BTC_PERP).realized_vol == pytest.approx(expected)


@given(
    prices=st.lists(st.floats(100, 100_000), min_size=1, max_size=12),
    liqs=st.lists(st.one_of(st.none(), st.floats(0, 1e7)), min_size=12, max_size=12),
    rate=st.one_of(st.none(), st.floats(-0.003, 0.003)),
    interval=st.sampled_from([3600, 4 * 3600, 8 * 3600]),
    realized=st.one_of(st.none(), st.floats(0.0, 3.0)),
)
def test_g1s_three_signals_read_alone_are_those_of_the_full_signals(prices, liqs, rate, interval, realized) -> None:
    """G1 reads volatility, liquidation intensity and funding without the rest of the signals being built (a
    500-perp scan asks every perp's cap each tick): the values are the full signals' own, before and after them."""
    tr = SignalTracker(rules(signals={"vol_window": "16h"}).signals, step_secs=8 * 3600)
    for k, (px, liq) in enumerate(zip(prices, liqs, strict=False)):
        s = replace(
            snap(BTC_PERP, px, T0 + k * 8 * 3600 * NS_PER_SEC),
            funding_rate=rate,
            funding_interval_secs=interval,
            liq_long_usd=liq,
            realized_vol=realized,
        )
        tr.update(s)
        alone = tr.leverage_inputs(BTC_PERP)
        sig = tr.get(BTC_PERP)
        assert sig is not None and alone == (sig.realized_vol, sig.liq_intensity, sig.funding_8h)
        assert tr.leverage_inputs(BTC_PERP) == alone
    assert tr.leverage_inputs(BTC_SPOT) is None
