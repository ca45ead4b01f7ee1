"""The live path against the stateful OKX emulator (tests/emulator/okx.py): ccxt's own OKX client talks to a loopback
unified account that keeps one wallet for spot and swaps, counts swaps in 0.01-BTC contracts, and keeps orders,
fills and funding bills; every restart is a *fresh* gateway. The newest-first paging test failed on the code before
its fix; the others hold what the live path must keep doing on OKX (issue 15)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.domain import FundingPayment, OrderStatus, Side
from bot.errors import VenueSetupError
from bot.venues.ccxt_fills import poll_fills
from bot.venues.ccxt_markets import venue_client_id
from bot.venues.ccxt_setup import prepare_account
from tests.emulator.harness import OKX_PERP_ID as PERP_ID
from tests.emulator.harness import OKX_SPOT_ID as SPOT_ID
from tests.emulator.harness import Venue, okx_venue, run_on
from tests.venues.test_live_binance import order, updates
from tests.venues.test_live_bybit import post_only_cancelled_by_the_venue_is_found

SWAP = "BTC-USDT-SWAP"


def run(check: Any, **venue_kw: str) -> None:
    run_on(okx_venue, check, **venue_kw)


def test_both_legs_from_one_wallet_in_contracts_read_back_in_base_units() -> None:
    """0.01 BTC short on the swap is one 0.01-BTC contract at OKX; a fresh gateway reads it back as -0.01 BTC, the
    spot holding net of the fee OKX takes in BTC, and the equity as the venue states it."""

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        await gw.submit(order("o1-spot", SPOT_ID, Side.BUY, "0.01"))
        await gw.submit(order("o1-perp", PERP_ID, Side.SELL, "0.01"))
        assert [u.status for u in updates(gw.drain_events())] == [OrderStatus.ACCEPTED] * 2
        swap = next(s for s in v.acct.submissions if s["instId"] == SWAP)
        assert swap["sz"] == "1" and v.acct.positions[(SWAP, "BOTH")].qty == Decimal("-1")  # one contract
        fresh = await v.gateway()
        pos = await fresh.fetch_positions()
        assert pos[PERP_ID].qty == Decimal("-0.01") and pos[SPOT_ID].qty == Decimal("0.00999")
        bal = await fresh.fetch_balance()
        assert bal.equity == v.acct.wallets["trading"]["USDT"] + Decimal("0.00999") * Decimal("60000")

    run(check)


def test_funding_bills_are_booked_in_base_units_with_their_sign() -> None:
    """A short of 50 contracts (0.5 BTC) receives position x mark x rate at each settlement; the bills are read
    newest first and booked once, in BTC, with the settled rate."""

    async def check(v: Venue) -> None:
        v.acct.set_clock(v.acct.now_ms() - 600_000)
        gw = await v.gateway()
        gw.history_since_ms = v.acct.now_ms()
        await gw.submit(order("o2-short", PERP_ID, Side.SELL, "0.5"))
        await poll_fills(gw)
        gw.drain_events()
        v.acct.set_price("linear", SWAP, Decimal("61000"))
        for k in range(6):
            v.acct.advance(1000)
            v.acct.settle_funding(SWAP, Decimal("0.0001") if k % 3 else Decimal("-0.00005"))
        assert await gw.poll_funding() == 6
        pays = [e for e in gw.drain_events() if isinstance(e, FundingPayment)]
        assert [(p.rate, p.position_qty, p.amount) for p in pays[:2]] == [
            (Decimal("-0.00005"), Decimal("-0.5"), Decimal("-1.525")),
            (Decimal("0.0001"), Decimal("-0.5"), Decimal("3.05")),
        ]
        assert sum(p.amount for p in pays) == sum(i.amount for i in v.acct.income if i.kind == "FUNDING_FEE")
        assert await gw.poll_funding() == 0

    run(check)


def test_fills_newest_first_are_read_whole_past_a_full_page() -> None:
    """OKX answers fills newest first, 100 at most: 150 swap fills in a day came back as the newest 100 before the
    newest-first paging fix."""

    async def check(v: Venue) -> None:
        start = v.acct.now_ms() - 86_400_000
        v.acct.set_clock(start)
        gw = await v.gateway()
        orders = []
        for k in range(150):
            o = order(f"o3-{k}", PERP_ID, Side.SELL if k % 2 else Side.BUY, "0.01", ts=start * 1_000_000)
            cid = venue_client_id(o.client_order_id, "okx")  # OKX client ids are letters and digits only
            v.acct.place("linear", SWAP, o.side.value, "market", Decimal(1), None, cid)
            orders.append(o)
            v.acct.advance(300_000)
        v.acct.set_clock(None)
        gw.adopt(start * 1_000_000, orders, [], [])
        fills = await gw.fetch_fills(start * 1_000_000)
        assert len(fills) == 150 and len({f.trade_id for f in fills}) == 150
        assert all(f.qty == Decimal("0.01") for f in fills)  # one contract each, in BTC

    run(check, usdt="10000000")


def test_start_up_refuses_long_short_mode() -> None:
    """OKX's long/short position mode needs posSide on every swap order and splits a position in two: start-up
    refuses it, as on Binance's hedge mode."""

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        v.dialect.pos_mode = "long_short_mode"  # type: ignore[attr-defined]
        with pytest.raises(VenueSetupError, match="hedge position mode"):
            await prepare_account(gw, [PERP_ID], 5, {})
        v.dialect.pos_mode = "net_mode"  # type: ignore[attr-defined]
        rep = await prepare_account(gw, [PERP_ID], 5, {})
        assert v.acct.leverage[SWAP] == 5 and rep.equity == 200_000.0 and not rep.problems

    run(check)


def test_a_post_only_order_the_venue_cancelled_is_found_cancelled_after_a_restart() -> None:
    run(lambda v: post_only_cancelled_by_the_venue_is_found(v, "o5-po", SPOT_ID))
