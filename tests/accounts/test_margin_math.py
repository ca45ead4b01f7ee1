"""Accounts math (SPEC G2, §4): the venues' isolated liquidation formula, cross liquidation of a margin account, and
the cash that puts a liquidation a chosen distance away."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.accounts import (
    AccountMode,
    MarginAccount,
    MarginMode,
    PerpMargin,
    cash_for_distance,
    isolated_liquidation_price,
    maintenance_margin,
    tier_for,
)
from bot.venues.fees import BINANCE_TIERS


def test_the_spec_worked_example_isolated_50x_at_60000_with_half_a_percent_maintenance() -> None:
    # SPEC G2: long P(1 - 1/L)/(1 - m), short P(1 + 1/L)/(1 + m); 59,095.48 / 60,895.52 where the seed says 58,500
    margin = 60_000 / 50
    assert round(isolated_liquidation_price(60_000, 1.0, margin, 0.005), 2) == 59_095.48
    assert round(isolated_liquidation_price(60_000, -1.0, margin, 0.005), 2) == 60_895.52
    assert 60_000 * (1 - 1 / 50 - 0.005) < 59_095.48  # the seed's formula is the farther one


def test_binance_tiers_pick_the_bracket_by_notional_and_keep_the_maintenance_amount_continuous() -> None:
    btc = BINANCE_TIERS["BTC"]
    assert tier_for(btc, 20_000, 0.0).mmr == 0.004
    assert tier_for(btc, 50_001, 0.0).mmr == 0.005
    # the venue's "maintenance amount" makes the maintenance margin continuous at each bracket's edge
    for lo, hi in zip(btc, btc[1:], strict=False):
        edge = lo.max_notional
        assert edge * lo.mmr - lo.cum == pytest.approx(edge * hi.mmr - hi.cum, abs=1e-6)
    assert maintenance_margin(btc, 1_000_000, 0.0) == pytest.approx(1_000_000 * 0.0065 - 950)
    assert tier_for((), 1e9, 0.01).mmr == 0.01  # no table: the flat rate


def _hedged(mode: AccountMode, cash: float, mark: float, haircut: float) -> tuple[MarginAccount, PerpMargin]:
    """1 BTC bought spot at 60,000 and 1 BTC sold 1x perp at 60,000, cross, marked at ``mark``."""
    perp = PerpMargin("v:BTC-PERP", "BTC", -1.0, 60_000, mark, MarginMode.CROSS, 1, 0.0, BINANCE_TIERS["BTC"])
    coins = {"BTC": 1.0} if mode is AccountMode.UNIFIED else {}
    return MarginAccount("v", mode, cash, coins, {"BTC": mark}, haircut, (perp,)), perp


def test_a_unified_hedged_pair_survives_a_threefold_rally_but_a_split_one_does_not() -> None:
    # unified: all the USDT went into the spot coin; the short perp margins from that coin at a 95% haircut.
    # health along x: 60,000 + 0.95*60,000x - 60,000x - (60,000x*m - cum) = 0, with m and cum from the tier the
    # short reaches there (1.08M of notional: 0.65%, 950)
    unified, _ = _hedged(AccountMode.UNIFIED, 0.0, 60_000, 0.95)
    x = unified.liquidation_factor("BTC")
    assert x == pytest.approx((60_000 + 950) / (0.05 * 60_000 + 0.0065 * 60_000), rel=1e-9)  # 17.98x
    assert x > 3
    # split: 60,000 USDT in the derivatives wallet, the coin in the spot wallet counts for nothing
    split, _ = _hedged(AccountMode.SPLIT, 60_000.0, 60_000, 1.0)
    xs = split.liquidation_factor("BTC")
    assert xs == pytest.approx((120_000 + 50) / (60_000 * 1.005), rel=1e-9)  # about 1.99x (tier 0.5%, 50)
    assert xs < 3


@given(
    entry=st.floats(1_000, 100_000),
    lev=st.integers(1, 20),
    move=st.floats(0.7, 1.4),
    distance=st.floats(0.05, 0.9),
    long=st.booleans(),
    isolated=st.booleans(),
)
def test_cash_for_distance_puts_the_liquidation_exactly_that_far_away(
    entry: float, lev: int, move: float, distance: float, long: bool, isolated: bool
) -> None:
    qty = 1.0 if long else -1.0
    mark = entry * move
    mode = MarginMode.ISOLATED if isolated else MarginMode.CROSS
    posted = entry / lev if isolated else 0.0
    cash = 0.0 if isolated else entry / lev
    perp = PerpMargin("v:X", "X", qty, entry, mark, mode, lev, posted, BINANCE_TIERS["BTC"])
    acct = MarginAccount("v", AccountMode.SPLIT, cash, {}, {}, 1.0, (perp,))
    need = cash_for_distance(acct, perp, distance)
    assert need >= 0
    if isolated:
        topped = PerpMargin("v:X", "X", qty, entry, mark, mode, lev, posted + need, BINANCE_TIERS["BTC"])
        acct2 = MarginAccount("v", AccountMode.SPLIT, cash, {}, {}, 1.0, (topped,))
        p2 = topped
    else:
        acct2 = MarginAccount("v", AccountMode.SPLIT, cash + need, {}, {}, 1.0, (perp,))
        p2 = perp
    liq = acct2.liquidation_price(p2)
    away = math.inf if liq is None or liq <= 0 else (mark - liq) / mark * (1 if long else -1)
    if need > 0:
        assert away == pytest.approx(distance, abs=1e-6)  # exactly there: no more cash than needed
    else:
        assert away >= distance - 1e-9  # already far enough


def _line_by_definition(acct: MarginAccount, base: str, at: float) -> tuple[float, float]:
    """The health line straight from its definition, one base at a time over the whole account (the O(n²) way the
    account model used to price every position: 500 perps cost 11 s of a 19 s scan)."""
    k, s, t, u = acct.cash, 0.0, 0.0, 0.0
    for b, q in acct.coins.items():
        value = q * acct.coin_marks.get(b, 0.0) * (acct.haircut if q > 0 else 1.0)
        if b == base:
            s += value
        else:
            k += value
    for p in acct.perps:
        if p.mode is not MarginMode.CROSS:
            continue
        if p.base == base:
            tier = tier_for(p.tiers, p.notional * at, p.fallback_mmr)
            k -= p.qty * p.entry
            s += p.qty * p.mark
            t += p.notional * tier.mmr
            u -= tier.cum
        else:
            k += p.upnl
            u += maintenance_margin(p.tiers, p.notional, p.fallback_mmr)
    return k - u, s - t


_BASES = ("BTC", "ETH", "SOL", "XRP")


@given(
    cash=st.floats(0, 2e6),
    haircut=st.floats(0.5, 1.0),
    positions=st.lists(
        st.tuples(
            st.sampled_from(_BASES),
            st.floats(-50, 50).filter(lambda q: abs(q) > 1e-3),
            st.floats(100, 100_000),
            st.floats(0.5, 2.0),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    coins=st.dictionaries(st.sampled_from(_BASES), st.floats(-20, 20), max_size=4),
    at=st.floats(0.2, 5.0),
)
def test_every_bases_health_line_from_the_account_totals_is_the_line_by_definition(
    cash: float,
    haircut: float,
    positions: list[tuple[str, float, float, float, bool]],
    coins: dict[str, float],
    at: float,
) -> None:
    perps = tuple(
        PerpMargin(
            f"v:{base}-{n}",
            base,
            qty,
            entry,
            entry * move,
            MarginMode.CROSS if cross else MarginMode.ISOLATED,
            5,
            abs(qty) * entry / 5,
            BINANCE_TIERS.get(base, ()),
            0.01,
        )
        for n, (base, qty, entry, move, cross) in enumerate(positions)
    )
    marks = {b: 1_000.0 * (i + 1) for i, b in enumerate(_BASES)}
    acct = MarginAccount("v", AccountMode.UNIFIED, cash, coins, marks, haircut, perps)
    scale = cash + sum(abs(p.qty) * (p.entry + p.mark) for p in perps) + sum(abs(q) * 4_000 for q in coins.values())
    for base in _BASES:
        a, b = acct.cross_line(base, at)
        a0, b0 = _line_by_definition(acct, base, at)
        assert a == pytest.approx(a0, rel=1e-12, abs=1e-9 * scale)
        assert b == pytest.approx(b0, rel=1e-12, abs=1e-9 * scale)
    prices = acct.liquidation_prices()
    for p in perps:
        if p.mode is MarginMode.CROSS and p.instrument_id in prices:
            assert prices[p.instrument_id] == pytest.approx(acct.liquidation_price(p), rel=1e-12)
