"""Bybit v5 (spot, linear, inverse) through ccxt against a loopback server answering with recorded real payloads
(tests/fixtures/bybit, from nautilus_trader): markets, funding with its interval, open interest from the ticker,
quotes, positions, balance, orders and the error paths."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web

from bot.domain import InstrumentKind, Order, OrderStatus, OrderType, Purpose, Side
from bot.feeds.live import LivePollingFeed
from bot.venues.ccxt_gateway import VENUE_OPTIONS, CcxtGateway, configure, venue_client_id
from bot.venues.fees import PERP_FEES
from tests.venues.loopback import Loopback, fixture, redirect, start

KEY, SECRET = "bybit-test-key-91ce", "bybit-test-secret-4d0a2b"
PERP, SPOT = "bybit:BTC/USDT:USDT", "bybit:BTC/USDT"
B = "/api.bybit.com/v5"


def ok(result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1673272861686}


class Exchange:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.posts = 0

    async def place(self, req: web.Request) -> dict[str, Any]:
        self.posts += 1
        body = await req.json()
        self.orders[body["orderLinkId"]] = body
        return ok(fixture("bybit", "ws_order_response.json")["data"] | {"orderLinkId": body["orderLinkId"]})

    def realtime(self, req: web.Request) -> dict[str, Any]:
        cid = req.query.get("orderLinkId")
        items = fixture("bybit", "http_get_orders_realtime.json")["result"]["list"][:1]
        if cid is not None:
            if cid not in self.orders:
                return ok({"category": "linear", "list": [], "nextPageCursor": ""})
            items = [items[0] | {"orderLinkId": cid, "symbol": self.orders[cid]["symbol"]}]
        return ok({"category": "linear", "list": items, "nextPageCursor": ""})


def instruments(req: web.Request) -> dict[str, Any]:
    cat = req.query["category"]
    if req.query.get("status") == "PreLaunch":
        return ok({"category": cat, "list": [], "nextPageCursor": ""})
    return fixture("bybit", f"http_get_instruments_{cat}.json")


def tickers(req: web.Request) -> dict[str, Any]:
    return ok({"category": "linear", "list": [fixture("bybit", "ws_ticker_linear.json")["data"]]})


def routes(ex: Exchange) -> dict[tuple[str, str], Any]:
    return {
        ("GET", f"{B}/market/instruments-info"): instruments,
        ("GET", f"{B}/market/tickers"): tickers,
        ("GET", f"{B}/market/funding/history"): "http_get_funding_history.json",
        ("GET", f"{B}/position/list"): "http_get_positions.json",
        ("GET", f"{B}/account/wallet-balance"): "http_get_wallet_balance.json",
        ("GET", f"{B}/user/query-api"): "http_get_user_query_api.json",
        ("GET", f"{B}/account/info"): "http_get_account_info.json",
        ("POST", f"{B}/order/create"): ex.place,
        ("GET", f"{B}/order/realtime"): ex.realtime,
        ("GET", f"{B}/order/history"): lambda req: ok({"category": "linear", "list": [], "nextPageCursor": ""}),
    }


def gateway(lb: Loopback, max_retries: int) -> CcxtGateway:
    """A keyed Bybit gateway whose ccxt instance talks to the loopback ``lb`` (not loaded yet)."""
    ex = configure(
        ccxt_async.bybit(
            {
                "apiKey": KEY,
                "secret": SECRET,
                "enableRateLimit": False,
                "timeout": 400,
                "options": VENUE_OPTIONS["bybit"],
            }
        )
    )
    redirect(ex, lb.url)
    return CcxtGateway("bybit", ex, PERP_FEES["bybit"], max_retries=max_retries, backoff_secs=0.0)


def _run(check, faults: dict[str, list[str]] | None = None) -> None:
    async def go() -> None:
        exchange = Exchange()
        lb = Loopback("bybit", routes(exchange), faults=faults or {})
        runner = await start(lb)
        gw = gateway(lb, max_retries=3)
        try:
            await gw.load()
            await check(gw, lb, exchange)
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())


def _order(cid: str = "r7-s1-bybit-BTC-1706745600000-1") -> Order:
    return Order(
        cid,
        "i",
        "d-i",
        PERP,
        Side.BUY,
        Decimal("0.010"),
        OrderType.LIMIT,
        Purpose.ENTRY,
        0,
        Decimal("17000"),
        True,
        False,
        None,
        17_000.0,
        17_000.0,
    )


def test_markets_and_the_funding_interval_from_the_venue() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        perp = gw.instruments[PERP]
        assert perp.kind is InstrumentKind.PERP and perp.qty_step == Decimal("0.001")
        assert gw.instruments[SPOT].kind is InstrumentKind.SPOT
        assert gw.instruments["bybit:BTC/USD:BTC"].settle == "BTC"  # coin-margined perpetual
        # the instrument list says fundingInterval "8" (in minutes that is absurd: not trusted, and ccxt's own
        # reading of it is "0h"); the ticker's fundingIntervalHour says 8 hours
        assert PERP not in gw.interval_source
        assert await gw.resolve_funding_interval(PERP) == (8 * 3600, "ticker fundingIntervalHour")
        assert not lb.unknown

    _run(check)


def test_funding_now_carries_open_interest_and_the_live_feed_uses_it() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        f = await gw.fetch_funding_now(PERP)
        assert f["rate"] == -0.000212 and f["mark"] == 17217.33 and f["index"] == 17227.36
        assert f["ts_next_ns"] == 1673280000000 * 1_000_000 and f["open_interest"] == 68744.761

        from bot.clock import SimClock

        feed = LivePollingFeed({"bybit": gw}, {PERP: gw.instruments[PERP]}, SimClock(1673272861686 * 10**6))
        batch = await feed.poll_once()
        (snap,) = batch.snapshots
        assert (snap.bid, snap.ask) == (17215.5, 17216.0) and snap.open_interest == 68744.761
        assert snap.funding_rate == -0.000212 and snap.funding_interval_secs == 8 * 3600
        assert lb.hits(f"{B}/market/open-interest") == 0  # no extra call when the ticker has it

    _run(check)


def test_funding_history_positions_and_balance_parse() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        assert await gw.fetch_funding_rate_history(PERP) == [
            (1709856000000 * 10**6, 0.00015),
            (1709884800000 * 10**6, 0.0001),
        ]
        pos = await gw.fetch_positions()
        assert pos[PERP].qty == Decimal("0.5") and pos[PERP].avg_price == Decimal("50000")
        bal = await gw.fetch_balance()
        assert bal.equity > 0

    _run(check)


def test_post_only_order_with_the_client_id_and_its_lookup_after_a_timeout() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and ex.posts == 1 and gw.lookups == 1
        (body,) = ex.orders.values()
        assert body["orderLinkId"] == venue_client_id(_order().client_order_id, "bybit")
        assert body["timeInForce"] == "PostOnly" and body["side"] == "Buy" and body["category"] == "linear"
        assert any(h.get("X-BAPI-API-KEY") == KEY for h in lb.headers)

    _run(check, faults={f"{B}/order/create": ["slow"]})


@pytest.mark.parametrize(
    "ret, code",
    [
        ({"retCode": 110007, "retMsg": "ab not enough for new order"}, "insufficient_funds"),
        ({"retCode": 10001, "retMsg": "params error: qty invalid"}, "bad_request"),
    ],
)
def test_rejections_are_never_retried(ret: dict[str, Any], code: str) -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.REJECTED and upd.reason == code
        assert lb.hits(f"{B}/order/create") == 1 and gw.lookups == 0

    body = json.dumps(ret | {"result": {}, "retExtInfo": {}, "time": 1668838414793})
    _run(check, faults={f"{B}/order/create": [f"json:200:{body}"]})


def test_rate_limit_code_is_retried() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and ex.posts == 1 and gw.retries["rate_limited"] == 1

    body = json.dumps({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1})
    _run(check, faults={f"{B}/order/create": [f"json:200:{body}"]})
