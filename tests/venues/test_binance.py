"""Binance (spot + USDⓈ-M futures) through ccxt against a loopback server answering with recorded real payloads
(tests/fixtures/binance, from nautilus_trader's integration tests): markets, funding, open interest, quotes,
positions, orders, and the error paths."""

from __future__ import annotations

import asyncio
import io
import json
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web

from bot import logs
from bot.domain import InstrumentKind, Order, OrderStatus, OrderType, OrderUpdate, Purpose, Side
from bot.errors import VenueSetupError
from bot.venues.ccxt_gateway import VENUE_OPTIONS, CcxtGateway, venue_client_id
from bot.venues.fees import PERP_FEES
from tests.venues.loopback import Loopback, fixture, redirect, start

KEY, SECRET = "binance-test-key-0c4e1f", "binance-test-secret-77ab90"
PERP, SPOT = "binance:BTC/USDT:USDT", "binance:BTC/USDT"
F, S = "/fapi.binance.com/fapi/v1", "/api.binance.com/api/v3"


class Exchange:
    """Orders the loopback 'exchange' has accepted, by client id."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, str]] = {}
        self.posts = 0

    async def place(self, req: web.Request) -> web.Response:
        self.posts += 1
        q = dict(req.query) | dict(await req.post())
        cid = q["newClientOrderId"]
        self.orders[cid] = q
        return web.json_response(
            fixture("binance", "order_response.json")
            | {
                "orderId": 831238666 if q["symbol"] == "ETHUSDT" else 12345678,
                "clientOrderId": cid,
                "symbol": q["symbol"],
                "side": q["side"],
                "type": q["type"],
                "origQty": q["quantity"],
                "timeInForce": q.get("timeInForce", "GTC"),
            }
        )

    def all_orders(self, req: web.Request) -> list[dict[str, Any]]:
        return [
            fixture("binance", "order_response.json")
            | {
                "orderId": 831238666 if q["symbol"] == "ETHUSDT" else 12345678,
                "clientOrderId": cid,
                "symbol": q["symbol"],
                "time": 1645930310000,
                "updateTime": 1645930322371,
            }
            for cid, q in self.orders.items()
            if q["symbol"] == req.query.get("symbol")
        ]

    def get(self, req: web.Request) -> web.Response:
        cid = req.query.get("origClientOrderId", "")
        if cid not in self.orders:
            return web.json_response({"code": -2013, "msg": "Order does not exist."}, status=400)
        return web.json_response(fixture("binance", "order_response.json") | {"clientOrderId": cid})


def routes(exchange: Exchange) -> dict[tuple[str, str], Any]:
    return {
        ("GET", f"{S}/exchangeInfo"): "http_spot_market_exchange_info.json",
        ("GET", f"{F}/exchangeInfo"): "http_futures_market_exchange_info.json",
        ("GET", "/dapi.binance.com/dapi/v1/exchangeInfo"): "../binance_dapi_exchange_info.json",
        ("GET", f"{F}/premiumIndex"): "http_futures_market_premium_index.json",
        ("GET", f"{F}/openInterest"): "http_futures_market_open_interest.json",
        ("GET", f"{F}/fundingRate"): "http_futures_market_funding_rate.json",
        ("GET", f"{F}/ticker/bookTicker"): "http_futures_market_book_ticker.json",
        ("GET", f"{S}/ticker/bookTicker"): lambda req: [fixture("binance", "http_spot_market_book_ticker.json")],
        ("GET", "/fapi.binance.com/fapi/v3/positionRisk"): "http_futures_account_positions_hedge.json",
        ("GET", "/fapi.binance.com/fapi/v2/positionRisk"): "http_futures_account_positions_hedge.json",
        ("GET", f"{F}/leverageBracket"): "leverage_bracket_btc_eth.json",
        ("GET", f"{F}/userTrades"): "http_futures_account_trades.json",
        ("POST", f"{F}/order"): exchange.place,
        ("GET", f"{F}/order"): exchange.get,
        ("GET", f"{F}/allOrders"): exchange.all_orders,
        ("POST", f"{F}/leverage"): lambda req: {"leverage": 3, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"},
    }


def gateway(lb: Loopback, max_retries: int, keys: bool = True) -> CcxtGateway:
    """A Binance gateway whose ccxt instance talks to the loopback ``lb`` (not loaded yet)."""
    ex = ccxt_async.binance(
        {
            "apiKey": KEY if keys else "",
            "secret": SECRET if keys else "",
            "enableRateLimit": False,
            "timeout": 400,
            "options": VENUE_OPTIONS["binance"],
        }
    )
    redirect(ex, lb.url)
    gw = CcxtGateway("binance", ex, PERP_FEES["binance"], max_retries=max_retries, backoff_secs=0.0)
    gw.lookup_grace_secs = 0.2  # these venues show an order at once; the emulator tests model the delay
    return gw


def _run(check, faults: dict[str, list[str]] | None = None, keys: bool = True) -> None:
    async def go() -> None:
        exchange = Exchange()
        lb = Loopback("binance", routes(exchange), faults=faults or {})
        runner = await start(lb)
        gw = gateway(lb, max_retries=3, keys=keys)
        try:
            await gw.load()
            await check(gw, lb, exchange)
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())


def _order(cid: str = "r7-s1-binance-BTC-1706745600000-1", **kw: Any) -> Order:
    return Order(
        cid,
        "i",
        "d-i",
        PERP,
        Side.SELL,
        Decimal("0.010"),
        kw.pop("order_type", OrderType.LIMIT),
        Purpose.ENTRY,
        0,
        kw.pop("limit_price", Decimal("50000")),
        kw.pop("post_only", True),
        False,
        None,
        50_000.0,
        50_000.0,
    )


def test_markets_become_instruments_spot_perp_quarterly_and_inverse() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        perp, spot = gw.instruments[PERP], gw.instruments[SPOT]
        assert perp.kind is InstrumentKind.PERP and perp.contract_size == 1 and not perp.inverse
        assert perp.qty_step == Decimal("0.001") and perp.price_tick == Decimal("0.1")  # PRICE_FILTER tickSize
        assert spot.kind is InstrumentKind.SPOT and spot.base == "BTC" and spot.quote == "USDT"
        q = gw.instruments["binance:BTC/USDT:USDT-220325"]
        assert q.kind is InstrumentKind.FUTURE and q.ts_expiry_ns == 1648195200000 * 1_000_000
        assert gw.instruments["binance:BTC/USD:BTC"].inverse  # COIN-M perpetual
        assert not lb.unknown

    _run(check, keys=False)


def test_funding_now_open_interest_quotes_and_the_interval_from_history() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        f = await gw.fetch_funding_now(PERP)
        assert f["rate"] == 0.00038246 and f["mark"] == 11793.63104562 and f["index"] == 11781.8049597
        assert f["ts_next_ns"] == 1597392000000 * 1_000_000
        assert await gw.fetch_open_interest(PERP) == 10659.509
        quotes = await gw.fetch_quotes([PERP, SPOT])  # one call per market type: Binance refuses to mix them
        assert quotes[PERP][:2] == (4.0, 4.000002) and set(quotes) == {PERP, SPOT}
        assert lb.hits(f"{F}/ticker/bookTicker") == 1 and lb.hits(f"{S}/ticker/bookTicker") == 1
        # no fundingInfo recorded (the loopback has no route: a venue error) and the rate gives no interval:
        # the settled history's spacing says 8 h (1570608000000 → 1570636800000)
        assert await gw.resolve_funding_interval(PERP) == (8 * 3600, "history")
        assert gw.instruments[PERP].funding_interval_secs == 8 * 3600 and gw.interval_source[PERP] == "history"

    _run(check, keys=False)


def test_hedge_mode_positions_are_refused_not_netted() -> None:
    """The recorded hedge-mode answer holds LONG 20 and SHORT -10 on BTCUSDT: neither 20 nor +10 is the account's
    exposure, and carrybot trades one-way mode only — the read refuses it, naming the fix."""

    async def check(gw: CcxtGateway, lb: Loopback, _: Exchange) -> None:
        with pytest.raises(VenueSetupError, match="hedge-mode positions on BTC/USDT:USDT.*one-way"):
            await gw.fetch_positions()

    _run(check)


def test_post_only_order_carries_the_client_id_and_gtx() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.ACCEPTED
        (body,) = ex.orders.values()
        assert body["newClientOrderId"] == venue_client_id(_order().client_order_id, "binance")
        assert body["timeInForce"] == "GTX" and body["side"] == "SELL" and body["quantity"] == "0.01"
        assert ex.posts == 1
        assert any(h.get("X-MBX-APIKEY") == KEY for h in lb.headers)  # signed for real

    _run(check)


def test_a_timeout_on_create_order_is_looked_up_and_never_resent() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and ex.posts == 1 and len(ex.orders) == 1
        assert gw.lookups == 1 and gw.errors["timeout"] == 1

    _run(check, faults={f"{F}/order": ["slow"]})


def test_malformed_answer_is_looked_up() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        # the malformed answer came back before the order reached the book: the lookup finds nothing, nothing is
        # resent blindly, the executor is told it was rejected with the reason
        assert upd.status is OrderStatus.REJECTED and ex.posts == 0 and gw.lookups >= 1

    _run(check, faults={f"{F}/order": ["malformed"]})


def test_429_and_5xx_are_retried_then_succeed() -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and ex.posts == 1
        assert sum(gw.retries.values()) == 2

    _run(check, faults={f"{F}/order": ["429", "503"]})


# Binance's own codes, mapped by ccxt's USDⓈ-M table: -2019 margin insufficient → InsufficientFunds, -4164 notional
# too small → InvalidOrder, -5022 post-only would take → InvalidOrder
@pytest.mark.parametrize(
    "body, code",
    [
        ('{"code": -2019, "msg": "Margin is insufficient."}', "insufficient_funds"),
        ('{"code": -4164, "msg": "Order\'s notional must be no smaller than 5.0"}', "invalid_order"),
        (
            '{"code": -5022, "msg": "Due to the order could not be executed as maker, the Post Only order will be '
            'rejected."}',
            "invalid_order",
        ),
    ],
)
def test_rejections_are_never_retried_or_looked_up(body: str, code: str) -> None:
    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.REJECTED and upd.reason == code
        assert ex.posts == 0 and gw.lookups == 0 and lb.hits(f"{F}/order") == 1

    _run(check, faults={f"{F}/order": [f"json:400:{body}"]})


def test_keys_never_reach_logs() -> None:
    out = io.StringIO()
    logs.configure("debug", "json", secrets=[KEY, SECRET], stream=out)

    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        await gw.submit(_order())
        await gw.submit(_order("r7-other-2"))

    _run(
        check,
        faults={
            f"{F}/order": ['json:400:{"code": -2019, "msg": "Margin is insufficient."}', "503", "503", "503", "503"]
        },
    )
    text = out.getvalue()
    assert "venue.rejected" in text and KEY not in text and SECRET not in text
    assert json.dumps(SECRET)[1:-1] not in text


def test_sandbox_switches_to_the_testnet_and_is_refused_where_there_is_none() -> None:
    from bot.venues.ccxt_gateway import SandboxUnavailable

    async def go() -> None:
        gw = CcxtGateway.create("binance", PERP_FEES["binance"], sandbox=True)
        try:
            urls = json.dumps(gw.ex.urls["api"])
            assert "testnet" in urls and "fapi.binance.com" not in urls
        finally:
            await gw.close()
        with pytest.raises(SandboxUnavailable, match="kraken has no sandbox"):
            CcxtGateway.create("kraken", PERP_FEES["binance"], sandbox=True)
        pro = CcxtGateway.create("bybit", PERP_FEES["bybit"], stream=True)
        try:
            assert hasattr(pro.ex, "watch_tickers") and pro.ex.has["fetchCurrencies"] is False
        finally:
            await pro.close()

    asyncio.run(go())


def test_live_fills_are_picked_up_once_matched_by_venue_order_id() -> None:
    from bot.domain import Fill
    from bot.venues.ccxt_fills import poll_fills, run_fill_loop

    eth = "binance:ETH/USDT:USDT"

    async def check(gw: CcxtGateway, lb: Loopback, ex: Exchange) -> None:
        order = Order(
            "r7-s1-binance-ETH-1645930300000-1",
            "i",
            "d-i",
            eth,
            Side.SELL,
            Decimal("0.005"),
            OrderType.MARKET,
            Purpose.ENTRY,
            0,
            None,
            False,
            False,
            None,
            2778.0,
            2778.0,
        )
        gw.history_since_ms = 1645930300000  # the run began when the recorded payloads were made
        await gw.submit(order)
        gw.drain_events()
        assert await poll_fills(gw) == 2  # one fill and its order update; the other trade is not ours
        fill, upd = gw.drain_events()
        assert isinstance(fill, Fill) and fill.client_order_id == order.client_order_id and fill.trade_id == "82357626"
        assert fill.qty == Decimal("0.005") and fill.price == Decimal("2778.35") and fill.fee == Decimal("0.0055567")
        assert fill.side is Side.SELL and fill.ts_ns == 1645930322371 * 1_000_000
        assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.FILLED and upd.filled_qty == order.qty
        assert gw.fills.counts["foreign"] == 1
        assert await poll_fills(gw) == 0 and not gw.drain_events()  # nothing twice; and the order is done
        # the loop (no stream on this REST-only instance) polls until cancelled
        task = asyncio.create_task(run_fill_loop(gw, poll_secs=0.01))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not gw.drain_events()
        # a fresh gateway (a restarted process) told of the run's order reads the same trade from the venue's
        # records, in base units, matched the same way; the one that placed it has nothing new
        assert await gw.fetch_fills(1645930300000 * 1_000_000) == []
        fresh = gateway(lb, max_retries=1)
        try:
            await fresh.load()
            fresh.adopt(1645930300000 * 1_000_000, [order], [], [])
            (again,) = await fresh.fetch_fills(1645930300000 * 1_000_000)
            assert again == fill
        finally:
            await fresh.close()

    _run(check)
