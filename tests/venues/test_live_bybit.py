"""The live path against the stateful Bybit emulator (tests/emulator/bybit.py): ccxt's own Bybit client talks to a
loopback Unified Trading Account that keeps one wallet for spot and perpetuals, orders, executions, positions and
funding settlements; every restart is a *fresh* gateway. The first test reads a unified account back; each of the
others failed on the code before the fix it names (issue 15: the live path against venues that keep state)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.domain import Fill, FundingPayment, OrderStatus, OrderType, Side
from bot.venues.ccxt_fills import poll_fills
from tests.emulator.harness import BYBIT_PERP_ID as PERP_ID
from tests.emulator.harness import BYBIT_SPOT_ID as SPOT_ID
from tests.emulator.harness import Venue, bybit_venue, run_on
from tests.venues.test_live_binance import order, updates


def run(check: Any, **venue_kw: str) -> None:
    run_on(bybit_venue, check, **venue_kw)


def test_a_unified_account_opens_both_legs_from_one_wallet_and_reads_them_back() -> None:
    """Spot long and perp short from the one USDT wallet of a Unified Trading Account; a fresh gateway reads the
    holding (net of the fee Bybit takes in BTC) and the short, and the account's equity as the venue states it."""

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        await gw.submit(order("b1-spot", SPOT_ID, Side.BUY, "0.01"))
        await gw.submit(order("b1-perp", PERP_ID, Side.SELL, "0.01"))
        assert [u.status for u in updates(gw.drain_events())] == [OrderStatus.ACCEPTED] * 2  # Bybit answers ids only
        fresh = await v.gateway()
        pos = await fresh.fetch_positions()
        assert pos[SPOT_ID].qty == Decimal("0.00999") and pos[PERP_ID].qty == Decimal("-0.010")
        bal = await fresh.fetch_balance()
        usdt = v.acct.wallets["unified"]["USDT"]
        assert usdt == Decimal("200000") - Decimal("600") - Decimal("600.30") * Decimal("0.00055")
        assert bal.equity == usdt + Decimal("0.00999") * Decimal("60000")  # perp at its entry: no unrealized PnL

    run(check)


def test_funding_is_booked_with_bybit_s_sign_rate_and_mark() -> None:
    """Bybit states a funding settlement as an execution whose ``execFee`` is what the position *paid* (negative when
    it received), and ccxt passes that fee on as the amount: a short receiving 3.05 USDT was booked as paying 3.05,
    with no mark (Bybit's rate history has none), so the check against position x rate x mark never ran. Now the
    amount is what the account received and the rate and mark are the settlement's own."""

    async def check(v: Venue) -> None:
        v.acct.set_clock(v.acct.now_ms() - 600_000)
        gw = await v.gateway()
        gw.history_since_ms = v.acct.now_ms()
        await gw.submit(order("b2-short", PERP_ID, Side.SELL, "0.5"))
        await poll_fills(gw)
        gw.drain_events()
        v.acct.set_price("linear", "BTCUSDT", Decimal("61000"))
        for k in range(6):
            v.acct.advance(1000)
            v.acct.settle_funding("BTCUSDT", Decimal("0.0001") if k % 3 else Decimal("-0.00005"))
        assert await gw.poll_funding() == 6
        pays = [e for e in gw.drain_events() if isinstance(e, FundingPayment)]
        assert gw.counts["funding_mismatch"] == 0
        p = pays[1]
        assert (p.rate, p.position_qty, p.mark, p.amount) == (
            Decimal("0.0001"),
            Decimal("-0.5"),
            Decimal("61000"),
            Decimal("3.05"),  # a short receives 0.5 x 61,000 x 0.01%
        )
        assert pays[0].amount == Decimal("-1.525")  # and pays when the rate is negative
        paid = sum(i.amount for i in v.acct.income if i.kind == "FUNDING_FEE")
        assert sum(p.amount for p in pays) == paid == Decimal("9.15")
        assert await gw.poll_funding() == 0  # each payment once

    run(check)


def test_history_newest_first_is_read_whole_past_a_full_page() -> None:
    """Bybit answers executions newest first, 100 at most. After a full page the reader moved its window's start to
    the newest row's time, so all but the newest 100 of a window's trades were lost (150 trades in a day: 100 came
    back). Now a full page from a newest-first venue is followed by the page before its oldest row."""

    async def check(v: Venue) -> None:
        start = v.acct.now_ms() - 86_400_000
        v.acct.set_clock(start)
        gw = await v.gateway()
        orders = []
        for k in range(150):
            o = order(f"b3-{k}", PERP_ID, Side.SELL if k % 2 else Side.BUY, "0.001", ts=start * 1_000_000)
            v.acct.place("linear", "BTCUSDT", o.side.value, "market", o.qty, None, o.client_order_id)
            orders.append(o)
            v.acct.advance(300_000)  # one every 5 minutes
        v.acct.set_clock(None)
        gw.adopt(start * 1_000_000, orders, [], [])
        fills = await gw.fetch_fills(start * 1_000_000)
        assert len(fills) == 150 and len({f.trade_id for f in fills}) == 150
        assert [f.ts_ns for f in fills] == sorted(f.ts_ns for f in fills)

    run(check, usdt="10000000")


async def post_only_cancelled_by_the_venue_is_found(v: Venue, cid: str, spot_id: str) -> None:
    """A post-only spot bid through the ask: the venue takes it and cancels it; a fresh gateway finds it cancelled,
    with nothing filled."""
    gw = await v.gateway()
    o = order(cid, spot_id, Side.BUY, "0.01", order_type=OrderType.LIMIT, limit_price=Decimal("60010"), post_only=True)
    await gw.submit(o)
    assert [u.status for u in updates(gw.drain_events())] == [OrderStatus.ACCEPTED]
    fresh = await v.gateway()
    fresh.adopt(o.ts_created_ns or 1, [o], [], [])
    found = await fresh.fetch_order(cid)
    assert found is not None and found.status is OrderStatus.CANCELED and found.filled_qty == 0
    assert not [e for e in fresh.drain_events() if isinstance(e, Fill)]


def test_a_post_only_order_the_venue_cancelled_is_found_cancelled_after_a_restart() -> None:
    """Bybit takes a post-only order that would take and cancels it itself. The lookup by client id searched open
    orders and *filled* ones only, so a fresh gateway reported the order as never seen (and a restart marked it
    not_sent). Now closed orders of every end state are searched."""
    run(lambda v: post_only_cancelled_by_the_venue_is_found(v, "b4-po", SPOT_ID))
