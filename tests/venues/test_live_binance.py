"""The live path against the stateful venue emulator (tests/emulator): ccxt's own Binance client talks to a loopback
venue that keeps wallets, orders, trades, positions and income; every restart is a *fresh* gateway that knows
nothing the venue does not tell it (issue 15). Each test here failed on the code before the fix it covers."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bot.domain import Fill, FundingPayment, Order, OrderStatus, OrderType, OrderUpdate, Purpose, Side
from bot.errors import VenueSetupError
from bot.venues.ccxt_fills import poll_fills, run_fill_loop
from bot.venues.ccxt_markets import venue_client_id
from tests.emulator.harness import PERP_ID, SPOT_ID, Venue, binance_venue
from tests.emulator.venue import Position

F, S = "/fapi.binance.com/fapi/v1", "/api.binance.com/api/v3"


def order(cid: str, iid: str, side: Side, qty: str, **kw: Any) -> Order:
    return Order(
        cid,
        "i-" + cid,
        "d-" + cid,
        iid,
        side,
        Decimal(qty),
        kw.pop("order_type", OrderType.MARKET),
        kw.pop("purpose", Purpose.ENTRY),
        kw.pop("ts", 0),
        kw.pop("limit_price", None),
        kw.pop("post_only", False),
        kw.pop("reduce_only", False),
        kw.pop("leverage", None),
        kw.get("ref", 60_000.0),
        kw.get("ref", 60_000.0),
    )


def run(check: Any, **venue_kw: str) -> None:
    async def go() -> None:
        async with binance_venue(**venue_kw) as venue:
            await check(venue)

    asyncio.run(go())


def updates(events: list[Any]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


# --- 2: spot legs can be closed ---
def test_a_reduce_only_spot_exit_closes_the_spot_leg() -> None:
    """Binance spot reads no ``reduceOnly`` (-1104): the exit of a spot long used to be rejected for good, leaving it
    unhedged once the perp was bought back. Now the flag goes to derivatives only and the exit sells."""

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        await gw.submit(order("r1-open-spot", SPOT_ID, Side.BUY, "0.01"))
        await gw.submit(order("r1-open-perp", PERP_ID, Side.SELL, "0.01"))
        await gw.submit(order("r1-exit-spot", SPOT_ID, Side.SELL, "0.009", purpose=Purpose.EXIT, reduce_only=True))
        await gw.submit(order("r1-exit-perp", PERP_ID, Side.BUY, "0.01", purpose=Purpose.EXIT, reduce_only=True))
        ups = updates(gw.drain_events())
        assert [u.status for u in ups] == [OrderStatus.FILLED] * 4, [u.reason for u in ups]
        exit_perp = next(s for s in v.acct.submissions if s.get("newClientOrderId") == "r1-exit-perp")
        assert exit_perp["reduceOnly"] == "true"  # the perp exit still may only reduce
        assert v.acct.positions[("BTCUSDT", "BOTH")].qty == 0
        assert v.acct.wallets["spot"]["BTC"] == Decimal("0.00099")  # 0.01 bought less the 0.1% fee in BTC, 0.009 sold

    run(check)


# --- 3: perpetual fills reach the ledger beside a stream that is silent for them ---
def test_perp_fills_arrive_while_the_trade_stream_is_up_but_follows_spot_only() -> None:
    """ccxt's ``watch_my_trades()`` without a type follows Binance's spot user stream: perp fills never came, and the
    REST poll ran only once the stream failed. Now the poll runs beside a live stream, one stream per market type."""

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        calls: list[dict[str, Any]] = []

        async def spot_stream(symbol: Any = None, since: Any = None, limit: Any = None, params: Any = None) -> Any:
            calls.append(dict(params or {}))
            await asyncio.Event().wait()  # up, and silent: no spot trade happens

        gw.ex.has = dict(gw.ex.has) | {"watchMyTrades": True}
        gw.ex.watch_my_trades = spot_stream
        o = order("r2-perp", PERP_ID, Side.SELL, "0.01", order_type=OrderType.LIMIT, limit_price=Decimal("60100"))
        await gw.submit(o)
        assert updates(gw.drain_events())[0].status is OrderStatus.ACCEPTED
        v.acct.set_price("linear", "BTCUSDT", Decimal("60100"))  # the resting short fills at the venue
        task = asyncio.create_task(run_fill_loop(gw, poll_secs=0.02, reconcile_secs=0.02, funding_secs=3600))
        fills: list[Fill] = []
        for _ in range(200):  # a deadline, polled: the fill must arrive while the stream is up
            fills += [e for e in gw.drain_events() if isinstance(e, Fill)]
            if fills:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("r2-perp", Decimal("0.01"), Decimal("60100"))]
        assert {"type": "future"} in calls and {"type": "spot"} in calls  # a stream per market type

    run(check)


def test_a_fill_stamped_before_another_symbol_s_latest_is_still_booked() -> None:
    """One trade watermark for every symbol: a pass reads spot, then the perp; a spot trade that happened after the
    spot read but before the perp's trade was skipped by every later pass (``since`` = the perp's time), so the ledger
    kept a spot leg the venue had sold (found by the live crash harness, stop 32: 7 fills booked, 8 at the venue).
    Each symbol now has its own watermark, read back with an overlap; a trade is still booked once."""

    async def check(v: Venue) -> None:
        t0 = v.acct.now_ms()
        v.acct.set_clock(t0)
        gw = await v.gateway()
        rest = order("r4-spot", SPOT_ID, Side.BUY, "0.01", order_type=OrderType.LIMIT, limit_price=Decimal("59000"))
        await gw.submit(rest)
        v.acct.advance(1_000)
        await gw.submit(order("r4-perp", PERP_ID, Side.SELL, "0.01"))
        gw.drain_events()
        await poll_fills(gw)  # spot: nothing yet; the perp's trade at t0 + 1 s
        assert [e.client_order_id for e in gw.drain_events() if isinstance(e, Fill)] == ["r4-perp"]
        v.acct.set_clock(t0 + 500)  # the spot trade the spot read of that pass came too early for
        v.acct.set_price("spot", "BTCUSDT", Decimal("59000"))
        v.acct.set_clock(t0 + 1_500)
        await poll_fills(gw)
        fills = [e for e in gw.drain_events() if isinstance(e, Fill)]
        assert [(f.client_order_id, f.ts_ns // 1_000_000) for f in fills] == [("r4-spot", t0 + 500)]
        await poll_fills(gw)
        assert not [e for e in gw.drain_events() if isinstance(e, Fill)]  # the overlap books nothing twice

    run(check)


def test_an_exit_two_days_after_the_entry_is_polled_within_the_venue_s_window() -> None:
    """A request with only a start is answered with the window after it (Binance spot: 24 h; futures, Bybit: 7 days).
    The poll asked from the symbol's last trade: a carry held two days, then closed, had its exit fill read from a
    window that ended a day before it. The poll now pages from there to now under each venue's window."""

    async def check(v: Venue) -> None:
        t0 = v.acct.now_ms() - 2 * 86_400_000
        v.acct.set_clock(t0)  # the venue's time, two days ago
        gw = await v.gateway()
        gw.history_since_ms = t0  # the run began then
        await gw.submit(order("r5-in", SPOT_ID, Side.BUY, "0.01"))
        await poll_fills(gw)
        assert [e.client_order_id for e in gw.drain_events() if isinstance(e, Fill)] == ["r5-in"]
        v.acct.set_clock(None)  # held two days: now
        await gw.submit(order("r5-out", SPOT_ID, Side.SELL, "0.00999", purpose=Purpose.EXIT))
        gw.drain_events()
        await poll_fills(gw)
        assert [e.client_order_id for e in gw.drain_events() if isinstance(e, Fill)] == ["r5-out"]

    run(check)


# --- 1: restart reconciliation reads the venue's records ---
def test_a_fresh_gateway_finds_the_run_s_filled_order_its_fills_and_orphans() -> None:
    """After a restart the gateway used to know only orders placed by its own process: a filled order was marked
    not_sent, no fill came back, and Binance's fetch_open_orders() without a symbol raised. A fresh gateway told the
    store's orders now reads the venue's records per symbol: the order's state, its fills, and an orphan to cancel."""

    async def check(v: Venue) -> None:
        t0 = v.acct.now_ms() * 1_000_000  # the run began
        first = await v.gateway()
        first.client_prefix = "r3-"
        filled = order("r3-lead", PERP_ID, Side.SELL, "0.02")
        resting = order("r3-rest", SPOT_ID, Side.BUY, "0.01", order_type=OrderType.LIMIT, limit_price=Decimal("59000"))
        orphan = order("r3-orphan", SPOT_ID, Side.BUY, "0.01", order_type=OrderType.LIMIT, limit_price=Decimal("58000"))
        for o in (filled, resting, orphan):
            await first.submit(o)
        await first.close()  # the process dies; the venue keeps everything

        fresh = await v.gateway()
        fresh.client_prefix = "r3-"
        fresh.adopt(t0, [filled, resting], [], [])  # the store had written these two ahead, not the orphan
        assert (await fresh.fetch_order("r3-lead")).status is OrderStatus.FILLED  # type: ignore[union-attr]
        assert (await fresh.fetch_order("r3-rest")).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
        working = await fresh.fetch_open_orders()
        assert {o.client_order_id for o in working} == {"r3-rest", venue_client_id("r3-orphan", "binance")}
        await fresh.cancel(venue_client_id("r3-orphan", "binance"))
        assert next(o for o in v.acct.orders if o.client_id == "r3-orphan").status == "canceled"
        (fill,) = await fresh.fetch_fills(t0)
        assert (fill.client_order_id, fill.side, fill.qty, fill.price) == (
            "r3-lead",
            Side.SELL,
            Decimal("0.02"),
            Decimal("60030"),
        )
        assert fill.fee == Decimal("0.60030000")  # 0.05% taker on 1,200.60
        assert await fresh.fetch_fills(t0) == []  # each trade once

    run(check)


def test_history_is_read_page_by_page_under_binance_limits() -> None:
    """1,250 perp trades over 9 days: Binance answers at most 1,000 rows and 7 days per request. Every one is read,
    once, in order."""

    async def check(v: Venue) -> None:
        start = v.acct.now_ms() - 9 * 86_400_000
        v.acct.set_clock(start)  # the venue's own time, moved by the test
        gw = await v.gateway()
        orders = []
        for k in range(1250):
            o = order(f"r4-{k}", PERP_ID, Side.SELL if k % 2 else Side.BUY, "0.001", ts=start * 1_000_000)
            v.acct.place("linear", "BTCUSDT", o.side.value, "market", o.qty, None, o.client_order_id)
            orders.append(o)
            v.acct.advance(600_000)  # one every 10 minutes
        v.acct.set_clock(None)
        gw.adopt(start * 1_000_000, orders, [], [])
        fills = await gw.fetch_fills(start * 1_000_000)
        assert len(fills) == 1250 and len({f.trade_id for f in fills}) == 1250
        assert [f.ts_ns for f in fills] == sorted(f.ts_ns for f in fills)

    run(check, usdt_futures="10000000")


# --- 4: funding is booked as the venue pays it ---
def test_funding_is_booked_during_the_run_paginated_with_rate_position_and_mark() -> None:
    """Live funding used to be read once, at restart, one page with since=None, with rate and position stored as 0.
    Now it is polled during the run from the venue's income records (paginated past Binance's 100-row default),
    each payment with the settled rate and mark and the position the run's fills had built, checked against
    position × rate × mark."""

    async def check(v: Venue) -> None:
        v.acct.set_clock(v.acct.now_ms() - 600_000)  # the venue's time, ten minutes ago, moved by the test
        gw = await v.gateway()
        gw.history_since_ms = v.acct.now_ms()  # the run began then
        await gw.submit(order("r5-short", PERP_ID, Side.SELL, "0.5"))
        fills = [e for e in gw.drain_events() if isinstance(e, Fill)]
        assert not fills  # fills come from the trade records, not the order answer
        await poll_fills(gw)
        gw.drain_events()
        v.acct.set_price("linear", "BTCUSDT", Decimal("61000"))
        for k in range(120):  # more settlements than one default page holds
            v.acct.advance(1000)
            v.acct.settle_funding("BTCUSDT", Decimal("0.0001") if k % 3 else Decimal("-0.00005"))
        assert await gw.poll_funding() == 120
        pays = [e for e in gw.drain_events() if isinstance(e, FundingPayment)]
        assert len(pays) == 120 and gw.counts["funding_mismatch"] == 0
        p = pays[1]
        assert (p.rate, p.position_qty, p.mark, p.amount) == (
            Decimal("0.0001"),
            Decimal("-0.5"),
            Decimal("61000"),
            Decimal("3.05"),  # a short receives 0.5 × 61,000 × 0.01%
        )
        assert sum(p.amount for p in pays) == sum(i.amount for i in v.acct.income if i.kind == "FUNDING_FEE")
        assert await gw.poll_funding() == 0  # each payment once

    run(check)


# --- 5: position mode, permissions, margin mode, leverage, funds at start-up ---
def test_start_up_refuses_hedge_mode_and_withdrawal_keys_and_sets_margin_and_leverage() -> None:
    from bot.venues.ccxt_setup import prepare_account

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        v.acct.hedge_mode = True
        with pytest.raises(VenueSetupError, match="hedge position mode"):
            await prepare_account(gw, [PERP_ID], 5, {})
        v.acct.hedge_mode = False
        v.dialect.withdrawals_enabled = True
        with pytest.raises(VenueSetupError, match="can withdraw"):
            await prepare_account(gw, [PERP_ID], 5, {})
        v.dialect.withdrawals_enabled = False
        v.acct.margin_mode["BTCUSDT"] = "isolated"
        rep = await prepare_account(gw, [PERP_ID], 5, {"binance": "cross"})
        assert v.acct.margin_mode["BTCUSDT"] == "cross" and v.acct.leverage["BTCUSDT"] == 5
        assert rep.equity == 200_000.0 and not rep.problems
        again = await (await v.gateway()).fetch_balance()  # a fresh gateway; margin type already cross: -4046 is fine
        assert again.equity == Decimal("200000")

    run(check)


def test_a_one_way_short_reads_negative() -> None:
    async def check(v: Venue) -> None:
        gw = await v.gateway()
        await gw.submit(order("r6-short", PERP_ID, Side.SELL, "0.25"))
        assert (await gw.fetch_positions())[PERP_ID].qty == Decimal("-0.25")
        v.acct.positions[("BTCUSDT", "LONG")] = Position(Decimal("0.1"), Decimal("60000"))
        with pytest.raises(VenueSetupError, match="hedge-mode positions"):
            await gw.fetch_positions()

    run(check)


# --- 7: an unknown outcome is neither a crash nor a duplicate ---
def test_a_timeout_then_an_order_invisible_for_a_while_is_not_placed_twice() -> None:
    """The order is accepted but its answer times out, and Binance shows new orders to queries only after a delay:
    one "not found" used to lead straight to a resend — two shorts. Now it is looked up for the grace period."""

    async def check(v: Venue) -> None:
        gw = await v.gateway(grace_secs=3.0, timeout_ms=300)
        v.emu.timeout_secs = 0.6
        v.acct.lookup_delay_ms = 700
        v.acct.faults.add(f"{F}/order", "timeout")
        await gw.submit(order("r7-short", PERP_ID, Side.SELL, "0.01"))
        (up,) = updates(gw.drain_events())
        assert up.status is OrderStatus.FILLED
        assert sum(1 for s in v.acct.submissions if s.get("newClientOrderId") == "r7-short") == 1
        assert v.acct.positions[("BTCUSDT", "BOTH")].qty == Decimal("-0.01")

    run(check)


def test_a_timeout_then_failing_lookups_never_raise_and_resolve_later() -> None:
    """create_order times out and every lookup answers 503: ``submit`` used to raise out of the executor with a live
    order at the venue. Now the order is reported working (``unconfirmed``) and resolved on the next refresh."""

    async def check(v: Venue) -> None:
        gw = await v.gateway(grace_secs=0.3, timeout_ms=300, max_retries=1)
        v.emu.timeout_secs = 0.5
        v.acct.faults.add(f"{F}/order", "timeout", *["503"] * 40)
        await gw.submit(order("r8-short", PERP_ID, Side.SELL, "0.01"))  # does not raise
        (up,) = updates(gw.drain_events())
        assert (up.status, up.reason) == (OrderStatus.ACCEPTED, "unconfirmed")
        v.acct.faults.by_path.clear()
        await gw.refresh_account(0)
        (up,) = updates(gw.drain_events())
        assert up.status is OrderStatus.FILLED and not gw.unconfirmed
        assert len([s for s in v.acct.submissions if s.get("newClientOrderId") == "r8-short"]) == 1

    run(check)


# --- 9: units and limits ---
def test_a_spot_buy_fee_charged_in_btc_is_booked_in_usdt() -> None:
    async def check(v: Venue) -> None:
        gw = await v.gateway()
        o = order("r9-buy", SPOT_ID, Side.BUY, "0.01")
        await gw.submit(o)
        gw.drain_events()
        await poll_fills(gw)
        events = gw.drain_events()
        (fill,) = [e for e in events if isinstance(e, Fill)]
        assert v.acct.trades[-1].fee_asset == "BTC"
        # 0.01 BTC traded, 0.1% of it kept by the venue: the holding moved 0.00999, as the venue's wallet says; the fee
        # is that 0.00001 BTC valued at the fill price; the cash the ledger books is exactly what left the wallet
        assert (fill.qty, fill.fee_qty, fill.traded_qty) == (Decimal("0.00999"), Decimal("0.00001"), Decimal("0.01"))
        assert fill.fee == Decimal("0.6") and v.acct.wallets["spot"]["BTC"] == fill.qty
        assert fill.qty * fill.price + fill.fee == Decimal("100000") - v.acct.wallets["spot"]["USDT"]
        assert updates(events)[-1].status is OrderStatus.FILLED  # the order filled whole (0.01 traded)

        from bot.ledger import Ledger

        ledger = Ledger(initial_equity=Decimal("200000"))
        ledger.apply_fill(fill, fill.price, fill.price)
        venue_equity = v.acct.wallets["spot"]["USDT"] + v.acct.wallets["spot"]["BTC"] * fill.price + Decimal("100000")
        assert ledger.equity({SPOT_ID: fill.price}) == venue_equity  # to the cent, and beyond

    run(check)


def test_an_entry_below_the_venue_minimum_notional_is_refused_before_sending() -> None:
    async def check(v: Venue) -> None:
        gw = await v.gateway()
        await gw.submit(order("r10-tiny", "binance:ETH/USDT:USDT", Side.SELL, "0.001", ref=3000.0))
        (up,) = updates(gw.drain_events())
        assert (up.status, up.reason) == (OrderStatus.REJECTED, "below_min_notional")
        assert not v.acct.submissions

    run(check)


# --- shadow mode -----------------------------------------------------------------------------------------------------
def test_shadow_mode_reads_the_real_account_and_sends_nothing() -> None:
    """``--mode shadow``: the account is read with the keys (equity, hedge-mode and permission checks), strategies
    and governor run, and every approved order is logged and reported back cancelled: no POST or DELETE ever reaches
    the venue, no leverage or margin mode is changed."""
    from bot.assembly import assemble_live
    from bot.governor.rules_config import load_rules
    from bot.settings import Settings
    from bot.venues.shadow import ShadowGateway

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        s = Settings(_env_file=None)
        settings = s.model_copy(
            update={"mode": "shadow", "replay": s.replay.model_copy(update={"venues": ("binance",), "bases": ("BTC",)})}
        )
        bot = await assemble_live(settings, load_rules(None), {"binance": gw}, live_orders=True, stream=False)
        shadow = bot.venues["binance"]
        assert isinstance(shadow, ShadowGateway)
        assert bot.ledger.initial_equity == Decimal("200000")  # the venue's wallets
        await shadow.submit(order("r11-would", PERP_ID, Side.SELL, "0.01"))
        (up,) = updates(shadow.drain_events())
        assert (up.status, up.reason) == (OrderStatus.CANCELED, "shadow") and shadow.counts["orders"] == 1
        assert (await shadow.fetch_balance()).equity == Decimal("200000")
        assert [r for r in v.emu.requests if r[0] in ("POST", "DELETE", "PUT")] == []
        assert v.acct.leverage == {} and v.acct.margin_mode == {} and v.acct.submissions == []

    run(check)


# --- 10: funding intervals change during a run ---------------------------------------------------------------------
def test_the_live_feed_asks_the_venue_for_the_funding_interval_again() -> None:
    """Intervals were read once at start-up; Binance moves perps from 8 h to 4 h or 1 h in volatile markets. The live
    feed asks again (hourly by default) and its snapshots carry the interval the venue states now."""
    from bot.clock import RealClock
    from bot.feeds.live import LivePollingFeed

    async def check(v: Venue) -> None:
        gw = await v.gateway()
        assert await gw.resolve_funding_interval(PERP_ID) == (8 * 3600, "fetch_funding_interval")
        inst = {i: gw.instruments[i] for i in (SPOT_ID, PERP_ID)}
        feed = LivePollingFeed({"binance": gw}, inst, RealClock(), interval_every_secs=0.0)

        def interval(b: Any) -> int | None:
            return next(s.funding_interval_secs for s in b.snapshots if s.instrument_id == PERP_ID)

        assert interval(await feed.poll_once()) == 8 * 3600
        v.dialect.interval_hours["BTCUSDT"] = 4
        assert interval(await feed.poll_once()) == 4 * 3600
        assert gw.instruments[PERP_ID].funding_interval_secs == 4 * 3600

    run(check)
