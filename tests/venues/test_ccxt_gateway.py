"""The ccxt gateway against an OKX-like local server serving recorded real payloads: ccxt's own request building
and parsing run; the HTTP layer is a real one on loopback."""

from __future__ import annotations

import asyncio
import io
import json
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from bot import logs
from bot.domain import InstrumentKind, Order, OrderStatus, OrderType, OrderUpdate, Purpose, Side
from bot.errors import VenueSetupError
from bot.venues.ccxt_gateway import CcxtGateway, venue_client_id
from bot.venues.fees import PERP_FEES
from tests.venues.okx_server import OkxServer, okx_fixture, start

KEY, SECRET, PASSWORD = "test-api-key-5f2c", "test-secret-9a1b7e", "test-pass-33d"
SWAP = "okx:BTC/USDT:USDT"


async def _gateway(server: OkxServer) -> tuple[CcxtGateway, object]:
    runner = await start(server)
    ex = ccxt_async.okx(
        {"apiKey": KEY, "secret": SECRET, "password": PASSWORD, "enableRateLimit": False, "timeout": 300}
    )
    ex.urls["api"] = {"rest": server.url}
    gw = CcxtGateway("okx", ex, PERP_FEES["okx"], max_retries=3, backoff_secs=0.0)
    await gw.load()
    return gw, runner


def _order(cid: str = "r12-s1-okx-BTC-1706745600000-1", **kw) -> Order:
    return Order(
        cid,
        "i",
        "d-i",
        SWAP,
        Side.SELL,
        Decimal("0.05"),
        kw.pop("order_type", OrderType.LIMIT),
        Purpose.ENTRY,
        0,
        kw.pop("limit_price", Decimal("103500")),
        True,
        False,
        3,
        103_500.0,
        103_500.0,
    )


def _run(coro_fn):
    async def go():
        server = OkxServer()
        gw, runner = await _gateway(server)
        try:
            return await coro_fn(gw, server)
        finally:
            await gw.close()
            await runner.cleanup()

    return asyncio.run(go())


def test_markets_become_instruments() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        swap = gw.instruments[SWAP]
        assert swap.kind is InstrumentKind.PERP and swap.contract_size == Decimal("0.01") and not swap.inverse
        inverse = gw.instruments["okx:BTC/USD:BTC"]
        assert inverse.inverse and inverse.kind is InstrumentKind.PERP
        fut = gw.instruments["okx:BTC/USD:BTC-241227"]
        assert fut.kind is InstrumentKind.FUTURE and fut.ts_expiry_ns == 1735286400000 * 1_000_000
        assert gw.instruments["okx:BTC/USD"].kind is InstrumentKind.SPOT

    _run(check)


def test_client_ids_fit_each_venue_deterministically() -> None:
    cid = "r12-s1-binance-BTC-1706745600000-1"
    okx = venue_client_id(cid, "okx")
    assert len(okx) <= 32 and okx.isalnum() and okx == venue_client_id(cid, "okx")
    assert venue_client_id(cid, "binance") == cid  # already acceptable: unchanged
    assert venue_client_id(cid + "x", "okx") != okx


def test_post_only_order_is_placed_with_the_client_id_and_contract_amount() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.ACCEPTED
        (body,) = server.orders.values()
        assert body["clOrdId"] == venue_client_id(_order().client_order_id, "okx")
        assert body["ordType"] == "post_only" and body["sz"] == "5" and body["side"] == "sell"  # 0.05 BTC = 5 ct
        assert server.posts == 1

    _run(check)


def test_a_timeout_on_create_order_is_looked_up_not_resent() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        server.place_script = ["slow"]
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED  # found by client id
        assert server.posts == 1 and len(server.orders) == 1 and gw.lookups == 1
        assert gw.errors["timeout"] == 1

    _run(check)


def test_rate_limits_and_outages_are_retried_then_succeed() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        server.place_script = ["429", "500", "ok"]
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and server.posts == 3 and len(server.orders) == 1
        assert gw.retries["rate_limited"] == 1 and gw.retries["exchange_unavailable"] == 1

    _run(check)


# ccxt's own OKX table maps sCode 51008 to InsufficientFunds and 51000 ("Parameter ... error") to BadRequest
@pytest.mark.parametrize("mode, code", [("insufficient", "insufficient_funds"), ("invalid", "bad_request")])
def test_rejections_are_never_retried(mode: str, code: str) -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        server.place_script = [mode]
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.REJECTED and upd.reason == code
        assert server.posts == 1 and gw.lookups == 0

    _run(check)


def test_malformed_answer_is_looked_up_and_never_duplicated() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        server.place_script = ["malformed"]
        await gw.submit(_order())
        (upd,) = gw.drain_events()
        assert upd.status is OrderStatus.ACCEPTED and server.posts == 1 and gw.lookups == 1

    _run(check)


def test_positions_balance_and_funding_parse_through_ccxt() -> None:
    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        # the recorded answer is a long/short-mode position (posSide "long"): refused, carrybot trades net mode
        with pytest.raises(VenueSetupError, match="hedge-mode"):
            await gw.fetch_positions()
        net = okx_fixture("http_get_positions.json")
        net["data"][0]["posSide"] = "net"
        server.positions = net
        pos = await gw.fetch_positions()
        assert pos[SWAP].qty == Decimal("0.005")  # 0.5 contracts × 0.01 BTC
        net["data"][0]["pos"] = "-0.5"  # a net-mode short: negative
        assert (await gw.fetch_positions())[SWAP].qty == Decimal("-0.005")
        bal = await gw.fetch_balance()
        assert bal.cash == Decimal("94.42612990333333")
        rates = await gw.fetch_funding_rate_history(SWAP)  # ccxt reports OKX's realizedRate: what settled
        assert rates == [(1704038400000 * 1_000_000, -0.00002), (1704067200000 * 1_000_000, 0.00015)]

    _run(check)


def test_keys_never_reach_logs_or_error_codes() -> None:
    out = io.StringIO()
    logs.configure("debug", "json", secrets=[KEY, SECRET, PASSWORD], stream=out)

    async def check(gw: CcxtGateway, server: OkxServer) -> None:
        server.place_script = ["invalid", "500", "500", "500", "500"]
        gw.lookup_grace_secs = 0.5  # an order of unknown outcome is looked up this long (the secrets are the point)
        await gw.submit(_order())
        await gw.submit(_order("r12-other-1"))
        assert any(KEY in json.dumps(h) for h in server.seen_headers)  # the key was really sent (signed request)

    _run(check)
    text = out.getvalue()
    assert "venue.rejected" in text or "venue.error" in text
    for secret in (KEY, SECRET, PASSWORD):
        assert secret not in text
