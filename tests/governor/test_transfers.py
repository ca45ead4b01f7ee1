"""Transfers pass the one door (SPEC §4): the governor's transfer rules and the margin manager's proposals, as pure
functions of the venue accounts."""

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from bot.accounts import AccountMode, AccountState, MarginAccount, MarginMode, PerpMargin
from bot.decisions import DenyCode, Outcome, TradingState
from bot.domain import Origin, TransferIntent
from bot.execution.margin_manager import topup_intents
from bot.governor.transfers import decide_transfer
from bot.venues.fees import BINANCE_TIERS
from tests.helpers import rules

NOW = 1_700_000_000_000_000_000
TIERS = BINANCE_TIERS["BTC"]


def _short(mark: float, mode: MarginMode, posted: float = 0.0, lev: int = 1) -> PerpMargin:
    return PerpMargin("binance:BTC/USDT:USDT", "BTC", -1.0, 60_000, mark, mode, lev, posted, TIERS)


def _split(
    deriv_cash: float, spot_free: float, mark: float, mode: MarginMode = MarginMode.CROSS, lev: int = 1
) -> AccountState:
    """1 BTC short at 60,000 in a split account: the short liquidates near (deriv_cash + 60,000 + 50)/1.005."""
    posted = 60_000.0 / lev if mode is MarginMode.ISOLATED else 0.0
    acct = MarginAccount("binance", AccountMode.SPLIT, deriv_cash, {}, {}, 1.0, (_short(mark, mode, posted, lev),))
    return AccountState(acct, spot_free)


def _intent(amount: str, src: str, dst: str, iid: str | None = None) -> TransferIntent:
    return TransferIntent("m-1", Origin.GOVERNOR, "margin", "binance", "USDT", Decimal(amount), src, dst, NOW, iid)


def _decide(intent: TransferIntent, state: AccountState, trading: TradingState = TradingState.ACTIVE, **cfg):
    return decide_transfer(intent, {"binance": state}, rules(**cfg), trading, NOW, "t-1")


def test_a_top_up_into_margin_is_approved_with_its_numbers_and_in_every_trading_state() -> None:
    state = _split(60_000.0, 40_000.0, 100_000.0)  # the short liquidates near 119,453: 19% above the mark
    for trading in TradingState:
        d = _decide(_intent("20000", "spot", "derivatives"), state, trading)
        assert d.outcome is Outcome.APPROVE and d.transfer is not None, trading
        (hit,) = d.hits
        assert hit.code is DenyCode.MARGIN_TOPUP
        assert hit.inputs["nearest_after"] > hit.inputs["nearest_before"]  # it moves the liquidation away
    assert d.transfer.amount == Decimal("20000") and d.transfer.intent_id == "m-1"


def test_the_governor_refuses_a_short_source_an_oversize_move_and_one_that_weakens_margin() -> None:
    state = _split(60_000.0, 10_000.0, 100_000.0)
    short = _decide(_intent("20000", "spot", "derivatives"), state)
    assert short.outcome is Outcome.REJECT and short.hits[0].code is DenyCode.TRANSFER_SOURCE_SHORT
    big = _decide(
        _intent("20000", "spot", "derivatives"), _split(60_000.0, 1e6, 60_000.0), g7={"max_transfer_usd": 1e4}
    )
    assert big.outcome is Outcome.REJECT and big.hits[0].code is DenyCode.MAX_TRANSFER
    # a 5x short with 30k in the wallet liquidates near 89,602 (49% away); taking 15k out would put it near 74,677
    # (24% away, nearer than topup_below_pct), though 18k is free
    calm = _split(30_000.0, 0.0, 60_000.0, lev=5)
    out = _decide(_intent("15000", "derivatives", "spot"), calm)
    assert out.outcome is Outcome.REJECT and out.hits[0].code is DenyCode.TRANSFER_WEAKENS_MARGIN
    assert out.hits[0].inputs["nearest_after"] < 0.40 < out.hits[0].inputs["nearest_before"]
    assert _decide(_intent("5000", "derivatives", "spot"), calm).outcome is Outcome.APPROVE
    # ... and while the bot is reducing, nothing leaves the margin wallet
    held = _decide(_intent("5000", "derivatives", "spot"), calm, TradingState.REDUCING)
    assert held.outcome is Outcome.REJECT and held.hits[0].code is DenyCode.STATE_REDUCING
    unknown = decide_transfer(_intent("1", "spot", "derivatives"), {}, rules(), TradingState.ACTIVE, NOW, "t")
    assert unknown.hits[0].code is DenyCode.TRANSFER_UNKNOWN_ACCOUNT
    # a wallet the account does not have (a split account has no unified wallet), or an isolated top-up from the
    # spot wallet: refused by the governor, not left to the venue
    for src, dst, iid in (("unified", "spot", None), ("spot", "isolated", "binance:BTC/USDT:USDT")):
        bad = _decide(_intent("10", src, dst, iid), calm)
        assert bad.outcome is Outcome.REJECT and bad.hits[0].code is DenyCode.TRANSFER_UNKNOWN_WALLET


def test_the_margin_manager_tops_up_a_split_account_from_its_spot_wallet_to_the_target_distance() -> None:
    # 60k in the derivatives wallet against a 1x short marked at 100k: liquidation near 119,453, 19% away
    state = _split(60_000.0, 50_000.0, 100_000.0)
    (intent,) = topup_intents({"binance": state}, rules().g2, NOW)
    assert (intent.from_wallet, intent.to_wallet, intent.origin) == ("spot", "derivatives", Origin.GOVERNOR)
    moved = float(intent.amount)
    after = _split(60_000.0 + moved, 50_000.0 - moved, 100_000.0)
    liq = after.margin.liquidation_price(after.margin.perps[0])
    assert abs(liq / 100_000 - 1 - 0.60) < 1e-6  # 60% away, as topup_to_pct says (the amount is cut to the cent)
    # nothing to do once it is there, and nothing when the spot wallet is empty (the ladder acts instead)
    assert topup_intents({"binance": after}, rules().g2, NOW) == []
    assert topup_intents({"binance": _split(60_000.0, 0.0, 100_000.0)}, rules().g2, NOW) == []


def test_the_margin_manager_tops_up_an_isolated_position_from_free_margin_but_moves_nothing_in_a_unified_cross_one():
    iso = _split(50_000.0, 0.0, 100_000.0, MarginMode.ISOLATED)
    (intent,) = topup_intents({"binance": iso}, rules().g2, NOW)
    assert intent.to_wallet == "isolated" and intent.instrument_id == "binance:BTC/USDT:USDT"
    assert float(intent.amount) <= 50_000.0
    # unified, cross: the spot coin is the hedge's collateral and already counts; a rally moves nothing
    perp = _short(180_000.0, MarginMode.CROSS)
    unified = MarginAccount("bybit", AccountMode.UNIFIED, 0.0, {"BTC": 1.0}, {"BTC": 180_000.0}, 0.95, (perp,))
    assert topup_intents({"bybit": AccountState(unified, 0.0)}, rules().g2, NOW) == []


@given(
    amount=st.decimals("0.01", "1000000", places=2),
    src=st.sampled_from(["spot", "derivatives", "unified", "isolated", "nonsense"]),
    dst=st.sampled_from(["spot", "derivatives", "unified", "isolated", "nonsense"]),
    trading=st.sampled_from(list(TradingState)),
    cash=st.floats(0, 200_000),
    spot_free=st.floats(0, 200_000),
    mark=st.floats(20_000, 200_000),
)
def test_an_approved_transfer_never_exceeds_what_its_source_has_free(amount, src, dst, trading, cash, spot_free, mark):
    assume(src != dst)  # an intent between one wallet and itself cannot be built (domain validation)
    state = _split(cash, spot_free, mark)
    d = _decide(_intent(str(amount), src, dst), state, trading)
    if d.outcome is Outcome.APPROVE:
        free = spot_free if src == "spot" else min(state.margin.cash, state.margin.free_margin())
        assert float(amount) <= free + 1e-6 and float(amount) <= rules().g7.max_transfer_usd
        assert d.transfer is not None and d.transfer.amount == amount
        assert src in ("spot", "derivatives") and dst in ("spot", "derivatives", "isolated")  # this account's wallets
        if trading is not TradingState.ACTIVE:
            assert dst in ("derivatives", "isolated")  # only moves into margin while reducing or halted
    else:
        assert d.transfer is None and d.hits
