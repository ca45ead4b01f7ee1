"""The capital allocator: entries sized across the venue accounts, best net carry first, to a target share of
equity (a pure function of intents and accounts)."""

from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.accounts import AccountMode, AccountState, MarginAccount
from bot.domain import IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.strategies.allocator import AllocationPolicy, allocate, venue_slots
from tests.helpers import INSTRUMENTS, snap

NOW = 1_700_000_000_000_000_000
MARKET = {
    iid: snap(iid, 60_000.0 if "BTC" in iid else 3_000.0, half_spread=0.0)
    for iid in INSTRUMENTS
    if ":" in iid  # venue:symbol
}


def _pair(venue: str, base: str, qty: str, edge: float, lev: int = 1) -> OrderIntent:
    spot, perp = f"{venue}:{base}/USDT", f"{venue}:{base}/USDT:USDT"
    legs = (IntentLeg(spot, Side.BUY, Decimal(qty)), IntentLeg(perp, Side.SELL, Decimal(qty), leverage=lev))
    return OrderIntent(f"s1-{venue}-{base}-{edge}", Origin.STRATEGY, "s1", Purpose.ENTRY, legs, NOW, edge_apr=edge)


def _fresh(venue: str, mode: AccountMode, equity: float = 100_000.0) -> AccountState:
    if mode is AccountMode.SPLIT:  # half in each wallet
        return AccountState(MarginAccount(venue, mode, equity / 2), equity / 2, equity)
    return AccountState(MarginAccount(venue, mode, equity, haircut=0.95), 0.0, equity)


def _notional(i: OrderIntent) -> float:
    return float(i.legs[0].qty) * MARKET[i.legs[0].instrument_id].mid


POLICY = AllocationPolicy(target_deploy_pct=0.9, split_reserve_pct=0.5, min_entry_usd=1_000)


def test_a_unified_account_deploys_its_fair_share_of_ninety_percent() -> None:
    # two opportunities on bybit; a 1x spot-perp pair needs its notional in cash and 5% of it more in margin (the
    # coin counts at 95%): each gets 0.9 x 100k / 2 / 1.05 = 42,857 of notional
    accounts = {"bybit": _fresh("bybit", AccountMode.UNIFIED)}
    (out,) = allocate([_pair("bybit", "BTC", "0.1", 0.2)], INSTRUMENTS, MARKET, accounts, {"bybit": 2}, POLICY)
    assert 42_700 <= _notional(out) <= 42_857.2  # 0.1% inside, floored to the 0.001 BTC step
    assert out.legs[0].qty == out.legs[1].qty  # still a hedge


def test_a_split_account_leaves_a_top_up_reserve_idle() -> None:
    # split, 50k in each wallet: spot notional from the spot wallet, 1x margin from the derivatives wallet, and 50% of
    # the perp notional left idle in either for top-ups: 0.9 x 100k / (1 + 1 + 0.5) = 36,000 with one opportunity
    accounts = {"binance": _fresh("binance", AccountMode.SPLIT)}
    (out,) = allocate([_pair("binance", "BTC", "0.1", 0.2)], INSTRUMENTS, MARKET, accounts, {"binance": 1}, POLICY)
    assert 35_900 <= _notional(out) <= 36_000
    # a pair already held keeps its reserve: an addition does not eat it
    held = {"binance:BTC/USDT": Decimal("0.6"), "binance:BTC/USDT:USDT": Decimal("-0.6")}
    spent = AccountState(MarginAccount("binance", AccountMode.SPLIT, 50_000 - 36_000), 50_000 - 36_000, 100_000.0)
    assert (
        allocate(
            [_pair("binance", "BTC", "0.1", 0.2)],
            INSTRUMENTS,
            MARKET,
            {"binance": spent},
            {"binance": 1},
            POLICY,
            None,
            held,
        )
        == []
    )


def test_the_richest_carry_is_funded_first_when_capital_binds() -> None:
    accounts = {"bybit": _fresh("bybit", AccountMode.UNIFIED, 30_000.0)}
    low, high = _pair("bybit", "ETH", "1", 0.10), _pair("bybit", "BTC", "0.1", 0.30)
    skipped: Counter[str] = Counter()
    out = allocate([low, high], INSTRUMENTS, MARKET, accounts, {"bybit": 1}, POLICY, skipped)
    assert [i.intent_id for i in out] == [high.intent_id]  # the fair share went to BTC; ETH's remainder is < 1,000
    assert skipped["no_capital"] == 1


def test_exits_pass_untouched_and_an_unknown_account_keeps_the_strategy_size() -> None:
    exit_ = OrderIntent(
        "x", Origin.STRATEGY, "s1", Purpose.EXIT, (IntentLeg("okx:BTC/USDT", Side.SELL, Decimal("0.5")),), NOW
    )
    entry = _pair("okx", "BTC", "0.2", 0.2)
    out = allocate([entry, exit_], INSTRUMENTS, MARKET, {}, {"okx": 1}, POLICY)
    assert out == [exit_, entry]


def test_slots_count_every_venue_an_opportunity_touches() -> None:
    assert venue_slots([("binance",), ("binance",), ("binance", "bybit")]) == {"binance": 3, "bybit": 1}


@given(
    equity=st.floats(5_000, 5e6),
    mode=st.sampled_from(list(AccountMode)),
    lev=st.integers(1, 5),
    n=st.integers(1, 4),
)
def test_allocations_never_exceed_the_target_share_or_the_wallets(
    equity: float, mode: AccountMode, lev: int, n: int
) -> None:
    accounts = {"okx": _fresh("okx", mode, equity)}
    intents = [_pair("okx", "BTC", "0.01", 0.3, lev), _pair("okx", "ETH", "0.1", 0.2, lev)][:n]
    out = allocate(intents, INSTRUMENTS, MARKET, accounts, {"okx": n}, POLICY)
    total = sum(_notional(i) for i in out)
    if mode is AccountMode.SPLIT:
        used = total * (1 + POLICY.split_reserve_pct) + total / lev
        assert total <= equity / 2 + 1e-6 and total / lev <= equity / 2 + 1e-6
    else:
        used = max(total, total * 0.05 + total / lev)
    assert used <= 0.9 * equity + 1e-6
    for i in out:
        assert i.legs[0].qty == i.legs[1].qty and _notional(i) >= POLICY.min_entry_usd


def test_an_addition_to_a_held_pair_gets_only_what_its_fair_share_has_left() -> None:
    accounts = {"bybit": _fresh("bybit", AccountMode.UNIFIED)}
    add = _pair("bybit", "BTC", "0.1", 0.2)
    # 0.5 BTC (30,000) held of a 42,857 share: about 12,857 more
    held = {"bybit:BTC/USDT": Decimal("0.5"), "bybit:BTC/USDT:USDT": Decimal("-0.5")}
    (out,) = allocate([add], INSTRUMENTS, MARKET, accounts, {"bybit": 2}, POLICY, None, held)
    assert 12_700 <= _notional(out) <= 12_858
    # a pair at its full share gets nothing
    full = {"bybit:BTC/USDT": Decimal("0.72"), "bybit:BTC/USDT:USDT": Decimal("-0.72")}
    skipped: Counter[str] = Counter()
    assert allocate([add], INSTRUMENTS, MARKET, accounts, {"bybit": 2}, POLICY, skipped, full) == []
    assert skipped["add_no_room"] == 1
