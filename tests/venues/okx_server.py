"""A local HTTP server that answers like OKX's v5 REST API from recorded real payloads (tests/fixtures/okx), so the
whole ccxt + aiohttp stack runs for real; faults (timeouts, 429, 5xx, malformed JSON, rejections) are scripted."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

FIX = Path(__file__).parents[1] / "fixtures" / "okx"
INSTRUMENTS = {
    "SPOT": "http_get_instruments_spot.json",
    "SWAP": "http_get_instruments_swap.json",
    "FUTURES": "http_get_instruments_futures.json",
    "OPTION": "http_get_instruments_option.json",
}


def okx_fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


@dataclass
class OkxServer:
    place_script: list[str] = field(default_factory=list)  # per POST /trade/order: ok|slow|429|500|malformed|...
    orders: dict[str, dict] = field(default_factory=dict)  # clOrdId -> order created at the "exchange"
    posts: int = 0
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    market_down: bool = False
    funding_patch: dict = field(default_factory=dict)  # fields to change in the funding-rate answer
    account: dict | None = (
        None  # the venue's account answers, when a test keeps them: {"balance": ..., "positions": ...}
    )
    positions: dict | None = None  # the positions answer, when a test changes the recorded one
    url: str = ""

    async def handler(self, req: web.Request) -> web.Response:
        self.seen_headers.append(dict(req.headers))
        path = req.path
        if path == "/api/v5/public/instruments":
            return web.Response(
                text=(FIX / INSTRUMENTS[req.query["instType"]]).read_text(), content_type="application/json"
            )
        if path in ("/api/v5/trade/order", "/api/v5/trade/batch-orders") and req.method == "POST":
            body = await req.json()  # ccxt places single orders through batch-orders
            return await self._place(body[0] if isinstance(body, list) else body)
        if path == "/api/v5/trade/order" and req.method == "GET":
            cid = req.query.get("clOrdId", "")
            if cid not in self.orders:
                return web.json_response({"code": "51603", "msg": "Order does not exist", "data": []})
            item = okx_fixture("http_get_orders_pending.json")["data"][0] | {
                "clOrdId": cid,
                "instId": self.orders[cid]["instId"],
            }
            return web.json_response({"code": "0", "msg": "", "data": [item]})
        if path == "/api/v5/account/positions":
            if self.account:
                return web.json_response(self.account["positions"])
            return web.json_response(self.positions or okx_fixture("http_get_positions.json"))
        if path == "/api/v5/account/balance":
            return web.json_response(
                self.account["balance"] if self.account else okx_fixture("http_get_account_balance.json")
            )
        if path == "/api/v5/public/funding-rate-history":
            return web.json_response(okx_fixture("http_get_funding_rate_history.json"))
        if path in ("/api/v5/market/tickers", "/api/v5/market/ticker"):
            if self.market_down:
                return web.Response(status=503, text="Service Unavailable")
            item = okx_fixture("ws_tickers.json")["data"][0]
            ids = [req.query["instId"]] if "instId" in req.query else ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
            return web.json_response(
                {"code": "0", "msg": "", "data": [item | {"instId": i, "instType": "SWAP"} for i in ids]}
            )
        if path == "/api/v5/public/funding-rate":
            item = okx_fixture("ws_funding_rate.json")["data"][0] | {"instId": req.query["instId"], "instType": "SWAP"}
            item |= self.funding_patch
            return web.json_response({"code": "0", "msg": "", "data": [item]})
        if path == "/api/v5/account/set-leverage":
            body = await req.json()
            return web.json_response({"code": "0", "msg": "", "data": [body]})
        return web.json_response({"code": "0", "msg": "", "data": []})

    async def _place(self, body: dict) -> web.Response:
        self.posts += 1
        mode = self.place_script.pop(0) if self.place_script else "ok"
        cid = body.get("clOrdId", "")
        item = okx_fixture("http_place_order_response.json") | {"clOrdId": cid}
        if mode == "429":
            return web.json_response({"code": "50011", "msg": "Too Many Requests", "data": []}, status=429)
        if mode == "500":
            return web.Response(status=503, text="Service Unavailable")
        if mode == "malformed":
            self.orders[cid] = body  # the order went in; the answer came back broken
            return web.Response(text='{"code": "0", "data": [{"ordId": ', content_type="application/json")
        if mode == "insufficient":
            return web.json_response(
                {
                    "code": "1",
                    "msg": "Operation failed.",
                    "data": [
                        item
                        | {"ordId": "", "sCode": "51008", "sMsg": "Order failed. Insufficient USDT balance in account."}
                    ],
                }
            )
        if mode == "invalid":
            return web.json_response(
                {
                    "code": "1",
                    "msg": "Operation failed.",
                    "data": [item | {"ordId": "", "sCode": "51000", "sMsg": "Parameter sz error"}],
                }
            )
        self.orders[cid] = body
        if mode == "slow":  # the order is placed, but the answer arrives after the client gave up
            await asyncio.sleep(1.0)
        return web.json_response({"code": "0", "msg": "", "data": [item]})


async def start(server: OkxServer) -> web.AppRunner:
    from tests.venues.loopback import serve

    runner, server.url = await serve(server.handler)
    return runner
