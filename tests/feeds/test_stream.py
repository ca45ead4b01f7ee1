"""The websocket feed: ccxt.pro's own subscription and parsing code against loopback servers playing recorded real
stream messages (Bybit tickers), REST loopback for markets; reconnect after a dropped connection; stale while down;
REST fallback for a venue without the stream."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.clock import RealClock
from bot.feeds.stream import LiveStreamFeed
from tests.venues.loopback import Loopback, fixture
from tests.venues.test_bybit import PERP, B, Exchange, routes
from tests.venues.ws_loopback import WsLoopback, live_venue


def bybit_reply(sub: dict[str, Any], conn: int) -> list[dict[str, Any]]:
    ack = fixture("bybit", "ws_subscription_ack.json") | {"req_id": sub.get("req_id", ""), "op": "subscribe"}
    msgs = []
    for topic in sub.get("args", []):
        if topic.startswith("tickers."):
            m = fixture("bybit", "ws_ticker_linear.json")
            m["data"] = dict(m["data"], bid1Price=str(17215.5 + conn), ask1Price=str(17216.0 + conn))
            msgs.append(m)
    return [ack, *msgs]


def run(check, drop_after: dict[int, int] | None = None, no_stream: bool = False) -> None:
    async def go() -> None:
        async with live_venue(
            "bybit", routes(Exchange()), bybit_reply, repeat_secs=0.05, drop_after=drop_after, no_stream=no_stream
        ) as (gw, lb, wsl):
            await gw.resolve_funding_interval(PERP)
            feed = LiveStreamFeed(
                {"bybit": gw},
                {PERP: gw.instruments[PERP]},
                RealClock(),
                tick_secs=0.05,
                rest_every_secs=0.05,
                max_backoff_secs=0.1,
            )
            try:
                await check(feed, lb, wsl)
            finally:
                await feed.stop()

    asyncio.run(go())


async def _until(cond, secs: float = 5.0) -> None:
    t = asyncio.get_running_loop().time()
    while not cond():
        if asyncio.get_running_loop().time() - t > secs:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def test_tickers_stream_into_snapshots_with_mark_funding_and_open_interest() -> None:
    async def check(feed: LiveStreamFeed, lb: Loopback, wsl: WsLoopback) -> None:
        before = lb.hits(f"{B}/market/tickers")
        feed.start()
        await _until(lambda: PERP in feed.latest)
        (snap,) = feed.snapshot_batch().snapshots
        assert (snap.bid, snap.ask) == (17216.5, 17217.0)  # first connection's message
        assert snap.mark == 17217.33 and snap.index == 17227.36 and snap.funding_rate == -0.000212
        assert snap.open_interest == 68744.761 and snap.funding_interval_secs == 8 * 3600
        assert snap.ts_next_funding_ns == 1673280000000 * 1_000_000
        assert abs(snap.ts_ns - feed._clock.now_ns()) < 2 * 10**9  # the message's own (fresh) time
        assert wsl.subscriptions[0]["op"] == "subscribe" and wsl.subscriptions[0]["args"] == ["tickers.BTCUSDT"]
        assert lb.hits(f"{B}/market/tickers") == before  # the stream carries everything: no REST polling

    run(check)


def test_a_dropped_stream_reconnects_and_its_snapshots_age_meanwhile() -> None:
    async def check(feed: LiveStreamFeed, lb: Loopback, wsl: WsLoopback) -> None:
        feed.start()
        await _until(lambda: PERP in feed.latest)
        first = feed.latest[PERP].ts_ns
        await _until(lambda: feed.reconnects["bybit"] >= 1)  # connection 1 closed after one message
        await _until(lambda: wsl.connections >= 2 and feed.latest[PERP].bid == 17217.5)
        assert feed.latest[PERP].ts_ns > first
        assert feed.failures["bybit"] >= 1

    run(check, drop_after={1: 1})


def test_a_venue_without_the_stream_is_polled_over_rest() -> None:
    async def check(feed: LiveStreamFeed, lb: Loopback, wsl: WsLoopback) -> None:
        feed.start()
        await _until(lambda: PERP in feed.latest)
        assert lb.hits(f"{B}/market/tickers") >= 1 and wsl.connections == 0
        (snap,) = feed.snapshot_batch().snapshots
        assert (snap.bid, snap.ask) == (17215.5, 17216.0)

    run(check, no_stream=True)


def test_batches_end_and_stop_the_watchers() -> None:
    async def check(feed: LiveStreamFeed, lb: Loopback, wsl: WsLoopback) -> None:
        feed._max_ticks = 40
        n = 0
        async for _batch in feed.batches():
            n += 1
        assert n == 40 and not feed._tasks
        assert feed.messages["bybit"] >= 1

    run(check)


def test_paper_trading_on_the_stream_runs_the_ordinary_executor() -> None:
    """`carrybot run --feed live` minus the network: the live assembly (instruments with the venue's own funding
    interval, stream feed, paper venue, governor, S1, executor) on the loopback venue."""
    from bot.assembly import assemble_live
    from bot.governor.rules_config import load_rules
    from bot.settings import Settings

    async def go() -> None:
        async with live_venue("bybit", routes(Exchange()), bybit_reply) as (gw, lb, wsl):
            s = Settings(_env_file=None)
            settings = s.model_copy(
                update={"replay": s.replay.model_copy(update={"venues": ("bybit",), "bases": ("BTC",)})}
            )
            bot = await assemble_live(settings, load_rules(None), {"bybit": gw}, live_orders=False, stream=True)
            assert set(bot.instruments) == {"bybit:BTC/USDT", PERP}
            assert bot.instruments[PERP].funding_interval_secs == 8 * 3600
            bot.feed._tick = 0.02
            bot.feed._max_ticks = 50
            stats = await bot.executor.run()
            assert stats.ticks == 50 and stats.snapshots > 0
            sig = bot.governor.signals.get(PERP)
            assert sig is not None and sig.funding_8h == -0.000212

    asyncio.run(go())


def test_live_fills_stream_over_the_private_websocket() -> None:
    """Bybit's private stream: ccxt.pro authenticates (signed), subscribes to executions, and the recorded execution
    becomes one Fill of the bot's order (matched by orderLinkId) — the REST poll is not needed while it streams."""
    from decimal import Decimal

    from bot.domain import Fill, Order, OrderStatus, OrderType, OrderUpdate, Purpose, Side
    from bot.venues.ccxt_fills import poll_fills, run_fill_loop
    from bot.venues.ccxt_gateway import venue_client_id

    order = Order(
        "r9-s1-bybit-BTC-1746270400000-1",
        "i",
        "d-i",
        PERP,
        Side.SELL,
        Decimal("0.5"),
        OrderType.MARKET,
        Purpose.ENTRY,
        0,
        None,
        False,
        False,
        None,
        95_900.0,
        95_900.0,
    )
    vcid = venue_client_id(order.client_order_id, "bybit")

    def reply(sub: dict[str, Any], conn: int) -> list[dict[str, Any]]:
        if sub.get("op") == "auth":
            assert sub["args"][0] == "bybit-stream-key" and len(sub["args"]) == 3  # key, expiry, signature
            return [fixture("bybit", "ws_auth_success.json") | {"req_id": sub.get("req_id", "")}]
        ack = fixture("bybit", "ws_subscription_ack.json") | {"req_id": sub.get("req_id", ""), "op": "subscribe"}
        m = fixture("bybit", "ws_account_execution.json")
        m["data"] = [dict(m["data"][0], orderLinkId=vcid)]
        return [ack, m] if "execution" in sub.get("args", []) else [ack]

    async def go() -> None:
        async with live_venue(
            "bybit", routes(Exchange()), reply, keys=("bybit-stream-key", "bybit-stream-secret"), repeat_secs=None
        ) as (gw, lb, wsl):
            gw.fills.placed(vcid, order)
            task = asyncio.create_task(run_fill_loop(gw, poll_secs=5.0, reconcile_secs=0.05))
            try:
                await _until(lambda: gw.fills.counts["fills"] == 1)
                fill, upd = gw.drain_events()
                assert isinstance(fill, Fill) and fill.client_order_id == order.client_order_id
                assert fill.qty == Decimal("0.5") and fill.price == Decimal("95900.1")
                assert fill.fee == Decimal("26.3725275")
                assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.FILLED
                assert gw.fills.counts["stream_failures"] == 0
                # the REST poll runs beside the stream (a stream can be up and silent): it books nothing twice
                await _until(lambda: lb.hits(f"{B}/execution/list") >= 1)
                await poll_fills(gw)
                assert gw.fills.counts["fills"] == 1 and not gw.drain_events()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_paper_on_live_data_persists_and_a_restart_resumes_the_same_run(tmp_path) -> None:
    """Live runs keep the same promises as the replay: orders written ahead, every tick committed, paper venues
    journaled, and a restart resumes the run with reconciliation."""
    import time

    from bot.assembly import assemble_live, recover_bot
    from bot.governor.rules_config import load_rules
    from bot.settings import Settings, masked
    from bot.store import Store
    from bot.store.run import open_persistence

    s = Settings(_env_file=None, data_dir=tmp_path)
    settings = s.model_copy(update={"replay": s.replay.model_copy(update={"venues": ("bybit",), "bases": ("BTC",)})})

    async def session() -> tuple[str, bool, dict]:
        async with live_venue("bybit", routes(Exchange()), bybit_reply) as (gw, lb, wsl):
            p = await open_persistence(settings, "live", masked(settings), time.time_ns(), "test")
            bot = await assemble_live(
                settings, load_rules(None), {"bybit": gw}, live_orders=False, stream=True, persistence=p
            )
            await recover_bot(bot)
            try:
                bot.feed._tick = 0.02
                bot.feed._max_ticks = 20
                await bot.executor.run()
                await bot.executor.commit(None)
                await p.recorder.flush()
                return p.run_key, p.resumed, bot.recovery.summary() if bot.recovery else {}
            finally:
                await p.close()

    key1, resumed1, _ = asyncio.run(session())
    key2, resumed2, recovery = asyncio.run(session())
    assert (resumed1, resumed2) == (False, True) and key1 == key2
    assert recovery["position_mismatches"] == 0 and recovery["orders_not_sent"] == 0

    async def stored() -> tuple[int, int | None]:
        from bot.store.run import store_url

        store = Store(store_url(settings))
        try:
            (run,) = await store.runs()
            return run.restarts, run.cursor_ns
        finally:
            await store.close()

    restarts, cursor = asyncio.run(stored())
    assert restarts == 1 and cursor is not None and abs(cursor - time.time_ns()) < 60 * 10**9
    assert (tmp_path / "paper").is_dir()  # the paper venue's own journal, apart from the store


def test_binance_bids_asks_and_mark_price_streams() -> None:
    """Binance USDⓈ-M: best bid/ask from the bookTicker stream and mark, index, funding rate and next funding time
    from the markPrice stream (recorded messages; the bookTicker sample's symbol is set to BTCUSDT)."""
    from tests.venues.test_binance import Exchange as BinanceExchange
    from tests.venues.test_binance import routes as binance_routes

    perp = "binance:BTC/USDT:USDT"

    def reply(sub: dict[str, Any], conn: int) -> list[dict[str, Any]]:
        msgs = []
        for stream in sub.get("params", []):
            if stream.lower().endswith("@bookticker"):
                msgs.append(fixture("binance", "book_ticker_stream.json") | {"s": "BTCUSDT", "ps": "BTCUSDT"})
            elif "@markprice" in stream.lower():
                msgs.append(fixture("binance", "mark_price_stream.json"))
        return [{"result": None, "id": sub.get("id")}, *msgs]

    async def go() -> None:
        async with live_venue("binance", binance_routes(BinanceExchange()), reply) as (gw, lb, wsl):
            feed = LiveStreamFeed(
                {"binance": gw},
                {perp: gw.instruments[perp]},
                RealClock(),
                tick_secs=0.05,
                rest_every_secs=0.05,
                max_backoff_secs=0.1,
            )
            try:
                feed.start()
                await _until(lambda: perp in feed.latest and feed.latest[perp].funding is not None)
                (snap,) = feed.snapshot_batch().snapshots
                assert (snap.bid, snap.ask) == (25.3519, 25.3652)
                assert snap.mark == 11794.15 and snap.index == 11784.62659091 and snap.funding_rate == 0.00038167
                assert snap.ts_next_funding_ns == 1562306400000 * 1_000_000
                streams = sorted(p for s in wsl.subscriptions for p in s.get("params", []))
                assert any(p.lower().endswith("@bookticker") for p in streams)
                assert any("@markprice" in p.lower() for p in streams)
            finally:
                await feed.stop()

    asyncio.run(go())


def test_stream_settlement_carries_the_rate_of_the_period_it_closes() -> None:
    from bot.clock import SimClock
    from bot.domain import Instrument, InstrumentKind
    from bot.venues.fees import PERP_FEES as FEES

    inst = Instrument(
        venue="bybit",
        symbol="BTC/USDT:USDT",
        kind=InstrumentKind.PERP,
        base="BTC",
        quote="USDT",
        fees=FEES["bybit"],
        funding_interval_secs=8 * 3600,
    )
    due = 1_673_280_000_000
    clock = SimClock((due - 60_000) * 1_000_000)
    feed = LiveStreamFeed({}, {inst.id: inst}, clock)

    def ticker(ts_ms: int, rate: str, next_ms: int) -> dict[str, Any]:
        return {
            "bid": 17215.5,
            "ask": 17216.0,
            "last": 17216.0,
            "timestamp": ts_ms,
            "info": {"fundingRate": rate, "nextFundingTime": str(next_ms), "markPrice": "17217.33"},
        }

    feed._update(inst.id, ticker(due - 30_000, "-0.000212", due))
    assert feed.snapshot_batch().snapshots[0].settlement is None
    clock.advance_to((due + 2_000) * 1_000_000)
    feed._update(inst.id, ticker(due + 1_000, "0.000100", due + 8 * 3_600_000))  # the next period's rate
    (snap,) = feed.snapshot_batch().snapshots
    assert snap.settlement is not None and snap.settlement.ts_ns == due * 1_000_000
    assert snap.settlement.rate == -0.000212 and snap.funding_rate == 0.0001
    assert feed.snapshot_batch().snapshots[0].settlement is None  # once
