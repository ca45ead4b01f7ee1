import asyncio
from decimal import Decimal

import pytest

from bot.accounts import AccountMode, MarginMode
from bot.clock import SimClock
from bot.domain import (
    NS_PER_SEC,
    Fill,
    FundingPayment,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Purpose,
    Side,
    Transfer,
    TransferStatus,
    TransferUpdate,
)
from bot.venues.fees import margin_tiers
from bot.venues.paper import PaperParams, PaperVenue
from bot.venues.paper_journal import PaperJournal
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, T0, batch, snap

D = Decimal


def _venue(journal: PaperJournal | None = None, **kw) -> tuple[PaperVenue, SimClock]:
    clock = SimClock(T0)
    params = PaperParams(**({"latency_secs": 0.0, "slippage_bps": 0.0, "impact_bps_per_million_usd": 0.0} | kw))
    v = PaperVenue("binance", INSTRUMENTS, clock, params, journal)
    v.observe(batch(snap(BTC_SPOT, 60_000.0), snap(BTC_PERP, 60_000.0, rate=0.0001)))
    return v, clock


def _order(cid: str, iid: str, side: Side, qty: str, **kw) -> Order:
    return Order(cid, "i", "d-i", iid, side, D(qty), kw.pop("order_type", OrderType.MARKET), Purpose.ENTRY, T0, **kw)


def _fills(events) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_market_buy_fills_at_ask_plus_slippage_with_taker_fee() -> None:
    v, _ = _venue(slippage_bps=1.0)
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.5")))
    (fill,) = _fills(v.drain_events())
    assert fill.price == D("60005") * (1 + D("1") / 10_000)
    assert fill.fee == D("0.5") * fill.price * D("0.001")
    assert fill.liquidity is Liquidity.TAKER
    assert v.holdings[BTC_SPOT] == D("0.5")
    assert v.cash == D(100_000) - D("0.5") * fill.price - fill.fee


def test_funding_is_paid_at_settlement_and_shorts_receive_positive_rates() -> None:
    v, _ = _venue()
    asyncio.run(v.submit(_order("c1", BTC_PERP, Side.SELL, "1", leverage=2)))
    v.drain_events()
    cash = v.cash
    later = T0 + 8 * 3600 * NS_PER_SEC
    v.observe(batch(snap(BTC_PERP, 61_000.0, ts_ns=later, rate=0.0001, settle=True, high=61_100, low=59_900)))
    (pay,) = [e for e in v.drain_events() if isinstance(e, FundingPayment)]
    assert pay.amount == D("1") * D("61000") * D("0.0001")  # notional at mark × rate, received by the short
    assert pay.position_qty == D(-1)
    assert v.cash == cash + pay.amount
    v.observe(batch(snap(BTC_PERP, 61_000.0, ts_ns=later + 1, rate=0.0001)))  # no settlement on this snapshot
    assert not v.drain_events()


def test_isolated_short_is_liquidated_where_the_venue_would() -> None:
    """SPEC G2: venues liquidate an isolated short at P(1 + 1/L)/(1 + m), nearer than the seed's P(1 + 1/L + m)."""
    v, _ = _venue(margin_mode=MarginMode.ISOLATED)
    asyncio.run(v.submit(_order("c1", BTC_PERP, Side.SELL, "1", leverage=10)))
    (entry,) = _fills(v.drain_events())
    liq = (entry.price * D("1.1") / D("1.004")).quantize(D("0.01"))
    assert v.liquidation_price(BTC_PERP) == liq
    ts = T0 + 8 * 3600 * NS_PER_SEC
    v.observe(batch(snap(BTC_PERP, 60_500.0, ts_ns=ts, high=float(liq) - 1, low=59_000)))
    assert not _fills(v.drain_events())
    v.observe(batch(snap(BTC_PERP, 66_000.0, ts_ns=ts * 2, high=float(liq) + 1, low=60_000)))
    (fill,) = _fills(v.drain_events())
    assert fill.is_liquidation and fill.price == liq and fill.side is Side.BUY
    assert BTC_PERP not in v.perps


def test_partial_fills_complete_over_following_ticks() -> None:
    v, _ = _venue(partial_fill_fraction=0.4)
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "1")))
    assert [f.qty for f in _fills(v.drain_events())] == [D("0.4")]
    for k in (1, 2):
        v.observe(batch(snap(BTC_SPOT, 60_000.0, ts_ns=T0 + k)))
    evs = v.drain_events()
    assert [f.qty for f in _fills(evs)] == [D("0.4"), D("0.2")]
    assert [e.status for e in evs if isinstance(e, OrderUpdate)][-1] is OrderStatus.FILLED
    assert v.holdings[BTC_SPOT] == D(1)


@pytest.mark.parametrize(
    "order, reason",
    [
        (_order("c9", BTC_SPOT, Side.SELL, "1"), "insufficient_funds"),  # no holdings, no borrow
        (_order("c9", BTC_SPOT, Side.BUY, "10"), "insufficient_funds"),  # 600k > 100k cash
        (_order("c9", BTC_SPOT, Side.BUY, "0.00001"), "invalid_qty"),
        (_order("c9", BTC_PERP, Side.BUY, "1", reduce_only=True), "reduce_only_would_increase"),
        (
            _order("c9", BTC_SPOT, Side.BUY, "0.1", order_type=OrderType.LIMIT, limit_price=D(60_010), post_only=True),
            "post_only_would_take",
        ),
        (_order("c9", "binance:DOGE/USDT", Side.BUY, "1"), "no_market"),
    ],
)
def test_venue_rejections_carry_a_reason_and_change_nothing(order: Order, reason: str) -> None:
    v, _ = _venue()
    asyncio.run(v.submit(order))
    (upd,) = v.drain_events()
    assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.REJECTED and upd.reason == reason
    assert v.cash == D(100_000) and not v.holdings and not v.perps


def test_split_account_checks_perp_margin_against_the_derivatives_wallet_only() -> None:
    """A split account (Binance): the 50k derivatives wallet cannot carry a 60k 1x short, whatever spot holds."""
    v, _ = _venue(account_mode=AccountMode.SPLIT)
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.5")))  # 30k of the 50k spot wallet
    asyncio.run(v.submit(_order("c2", BTC_PERP, Side.SELL, "1", leverage=1)))  # needs 60k margin
    upd = v.drain_events()[-1]
    assert upd.status is OrderStatus.REJECTED and upd.reason == "insufficient_funds"
    assert BTC_PERP not in v.perps


def test_unified_account_counts_the_spot_leg_as_collateral_for_its_hedge() -> None:
    """Unified (Bybit UTA, OKX): 40k cash + 0.95 x 60k of BTC = 97k collateral carries a 60k 1x short ..."""
    v, _ = _venue()
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "1")))  # 60k of 100k
    asyncio.run(v.submit(_order("c2", BTC_PERP, Side.SELL, "1", leverage=1)))
    assert v.drain_events()[-1].status is OrderStatus.FILLED
    # ... but not a second one: 97k of collateral less 60k in use leaves less than 60k.
    asyncio.run(v.submit(_order("c3", BTC_PERP, Side.SELL, "1", leverage=1)))
    upd = v.drain_events()[-1]
    assert upd.status is OrderStatus.REJECTED and upd.reason == "insufficient_funds"
    assert v.perps[BTC_PERP].qty == D(-1)


def test_duplicate_client_order_id_is_rejected() -> None:
    v, _ = _venue()
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.1")))
    v.drain_events()
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.1")))
    (upd,) = v.drain_events()
    assert upd.reason == "duplicate_client_order_id"
    assert v.holdings[BTC_SPOT] == D("0.1")


def test_resting_post_only_buy_fills_as_maker_when_range_trades_through() -> None:
    v, _ = _venue()
    asyncio.run(
        v.submit(
            _order("c1", BTC_SPOT, Side.BUY, "0.1", order_type=OrderType.LIMIT, limit_price=D(59_900), post_only=True)
        )
    )
    assert [e.status for e in v.drain_events()] == [OrderStatus.ACCEPTED]
    v.observe(batch(snap(BTC_SPOT, 60_100.0, ts_ns=T0 + 1, high=60_200, low=59_800)))
    (fill,) = _fills(v.drain_events())
    assert fill.liquidity is Liquidity.MAKER and fill.price == D(59_900)
    assert fill.fee == D("0.1") * D(59_900) * D("0.001")


def test_latency_passes_on_the_clock() -> None:
    v, clock = _venue(latency_secs=0.25)
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.1")))
    (fill,) = _fills(v.drain_events())
    assert fill.ts_ns == T0 + NS_PER_SEC // 4 == clock.now_ns()


def test_equity_is_cash_plus_holdings_and_perp_pnl_at_mark() -> None:
    v, _ = _venue()
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.5")))
    asyncio.run(v.submit(_order("c2", BTC_PERP, Side.SELL, "0.5", leverage=1)))
    fills = _fills(v.drain_events())
    v.observe(batch(snap(BTC_SPOT, 62_000.0, ts_ns=T0 + 1), snap(BTC_PERP, 62_010.0, ts_ns=T0 + 1)))
    fees = sum(f.fee for f in fills)
    expected = D(100_000) - fees + D("0.5") * ((D(62_000) - fills[0].price) + (fills[1].price - D(62_010)))
    assert v.equity() == expected


def test_short_spot_needs_a_borrow_source_and_pays_interest_on_the_curve() -> None:
    from bot.domain import BorrowCharge
    from bot.strategies.borrow import BorrowCurve

    curve = BorrowCurve(base_apr=0.02, slope1=0.1, slope2=1.5, kink=0.8, pool_borrows_usd=40e6, pool_cash_usd=60e6)
    v, clock = _venue(borrow=curve)
    asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.SELL, "0.5")))
    (fill,) = _fills(v.drain_events())
    assert v.holdings[BTC_SPOT] == D("-0.5") and v.cash == D(100_000) + D("0.5") * fill.price - fill.fee
    day = 86_400 * NS_PER_SEC
    v.observe(batch(snap(BTC_SPOT, 60_000.0, ts_ns=T0 + day)))
    (charge,) = [e for e in v.drain_events() if isinstance(e, BorrowCharge)]
    apr = curve.rate_for(30_000.0)
    assert charge.rate_apr == apr and charge.qty == D("0.5")
    assert charge.amount == D("0.5") * D(60_000) * D(repr(apr)) / 365
    cash = v.cash
    clock.advance_to(T0 + 2 * day)  # buying back settles the interest up to the trade, then stops it
    v.observe(batch(snap(BTC_SPOT, 60_000.0, ts_ns=T0 + 2 * day)))
    asyncio.run(v.submit(_order("c2", BTC_SPOT, Side.BUY, "0.5")))
    evs = v.drain_events()
    assert [e for e in evs if isinstance(e, BorrowCharge)][0].amount == charge.amount
    assert v.holdings[BTC_SPOT] == 0 and cash > v.cash
    v.observe(batch(snap(BTC_SPOT, 60_000.0, ts_ns=T0 + 3 * day)))
    assert not [e for e in v.drain_events() if isinstance(e, BorrowCharge)]


def _transfer(tid: str, amount: str, src: str, dst: str, iid: str | None = None) -> Transfer:
    return Transfer(tid, "i", "d-i", "binance", "USDT", D(amount), src, dst, T0, iid)


def test_a_split_transfer_moves_cash_between_wallets_and_no_equity(tmp_path) -> None:
    v, clock = _venue(account_mode=AccountMode.SPLIT)
    before = v.equity()
    assert (v.cash, v.deriv_cash) == (D(50_000), D(50_000))
    asyncio.run(v.transfer(_transfer("t1", "12345.67", "spot", "derivatives")))
    (upd,) = v.drain_events()
    assert isinstance(upd, TransferUpdate) and upd.status is TransferStatus.DONE
    assert (v.cash, v.deriv_cash) == (D("37654.33"), D("62345.67"))
    assert v.equity() == before
    # the same id again: refused, nothing moves; more than the wallet holds: refused, nothing moves
    asyncio.run(v.transfer(_transfer("t1", "1", "spot", "derivatives")))
    asyncio.run(v.transfer(_transfer("t2", "40000", "spot", "derivatives")))
    asyncio.run(v.transfer(_transfer("t3", "1", "spot", "unified")))
    reasons = [e.reason for e in v.drain_events()]
    assert reasons == ["duplicate_transfer_id", "insufficient_funds", "unknown_wallet"]
    assert (v.cash, v.deriv_cash) == (D("37654.33"), D("62345.67"))


def test_an_isolated_top_up_moves_the_liquidation_price_and_survives_a_restart(tmp_path) -> None:
    journal = PaperJournal(tmp_path / "paper.db", "binance")
    v, clock = _venue(journal, margin_mode=MarginMode.ISOLATED, tiers=margin_tiers(INSTRUMENTS))
    asyncio.run(v.submit(_order("c1", BTC_PERP, Side.SELL, "1", leverage=1)))  # 60k posted to the position
    v.drain_events()
    entry = v.perps[BTC_PERP].entry  # 59,995: the bid
    assert v.perps[BTC_PERP].margin == entry
    # SPEC G2 (short, 1x: P(1 + 1/L)/(1 + m)), m from Binance's tier at 60k of notional (0.5%, maintenance amount 50)
    assert v.liquidation_price(BTC_PERP) == ((2 * entry + 50) / D("1.005")).quantize(D("0.01"))
    equity = v.equity()
    asyncio.run(v.transfer(_transfer("t1", "20000", "unified", "isolated", BTC_PERP)))
    assert v.drain_events()[-1].status is TransferStatus.DONE
    assert v.perps[BTC_PERP].margin == entry + 20_000 and v.equity() == equity
    assert v.liquidation_price(BTC_PERP) == ((2 * entry + 20_050) / D("1.005")).quantize(D("0.01"))
    # a fresh venue on the same journal (a restart): the posted margin, the wallet and the seen id are kept
    fresh = PaperVenue("binance", INSTRUMENTS, clock, v._p, PaperJournal(tmp_path / "paper.db", "binance"))
    assert fresh.perps[BTC_PERP].margin == entry + 20_000 and fresh.cash == v.cash
    assert fresh.equity() == equity
    asyncio.run(fresh.transfer(_transfer("t1", "1", "unified", "isolated", BTC_PERP)))
    assert fresh.drain_events()[-1].reason == "duplicate_transfer_id"
    # a top-up of a position that is not isolated, or does not exist, is refused
    asyncio.run(fresh.transfer(_transfer("t9", "1", "unified", "isolated", "binance:ETH/USDT:USDT")))
    assert fresh.drain_events()[-1].reason == "no_isolated_position"


@pytest.mark.parametrize("mode", list(AccountMode))
def test_any_sequence_of_transfers_moves_no_equity_and_never_overdraws_a_wallet(mode: AccountMode) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    wallets = ["spot", "derivatives", "unified", "isolated"]

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(st.sampled_from(wallets), st.sampled_from(wallets), st.decimals("-100", "150000", places=2)),
            max_size=12,
        )
    )
    def run(moves) -> None:
        v, _ = _venue(account_mode=mode, margin_mode=MarginMode.ISOLATED)
        asyncio.run(v.submit(_order("c1", BTC_SPOT, Side.BUY, "0.5")))
        asyncio.run(v.submit(_order("c2", BTC_PERP, Side.SELL, "0.5", leverage=2)))
        v.drain_events()
        before = v.equity()
        for k, (src, dst, amount) in enumerate(moves):
            iid = BTC_PERP if dst == "isolated" else None
            asyncio.run(v.transfer(_transfer(f"t{k}", str(amount), src, dst, iid)))
            assert v.equity() == before
            assert v.cash >= 0 and v.deriv_cash >= 0 and v.perps[BTC_PERP].margin > 0
        updates = v.drain_events()
        assert len(updates) == len(moves) and all(isinstance(u, TransferUpdate) for u in updates)

    run()
