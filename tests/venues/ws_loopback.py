"""A loopback websocket server for ccxt.pro: every ``wss://`` URL of an exchange is rewritten to
``ws://127.0.0.1:PORT/<host>/<path>``. On each subscription it acknowledges in the venue's own format and plays
recorded real stream messages (tests/fixtures/<venue>/), re-stamped with the current time; a script can drop the
connection after N messages to exercise reconnects."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.venues.ccxt_markets import rebased

Reply = Callable[[dict[str, Any], int], list[dict[str, Any]]]  # (subscribe message, connection number) -> messages


def redirect_ws(exchange: Any, base_ws: str) -> None:
    exchange.urls["api"]["ws"] = rebased(exchange.urls["api"]["ws"], "wss://", base_ws)


@dataclass
class WsLoopback:
    reply: Reply
    drop_after: dict[int, int] = field(default_factory=dict)  # connection number -> close after N messages sent
    repeat_secs: float | None = None  # resend the messages every so often (a live stream)
    connections: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    url: str = ""

    async def handle(self, req: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(req)
        self.connections += 1
        conn = self.connections
        sent_here = 0
        pump: asyncio.Task[None] | None = None

        async def play(messages: list[dict[str, Any]]) -> None:
            nonlocal sent_here
            while True:
                for m in messages:
                    if conn in self.drop_after and sent_here >= self.drop_after[conn]:
                        await ws.close()
                        return
                    await ws.send_str(json.dumps(stamp(m)))
                    sent_here += 1
                    self.sent += 1
                if self.repeat_secs is None:
                    return
                await asyncio.sleep(self.repeat_secs)

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data.get("op") == "ping" or data.get("method") == "ping":
                await ws.send_str(json.dumps({"op": "pong", "success": True}))
                continue
            self.subscriptions.append(data)
            out = self.reply(data, conn)
            if out:
                await ws.send_str(json.dumps(out[0]))  # the acknowledgement
                pump = asyncio.create_task(play(out[1:]))
        if pump is not None:
            pump.cancel()
        return ws


def stamp(m: dict[str, Any]) -> dict[str, Any]:
    """Re-stamp a recorded message with the current time (venue time fields in ms)."""
    now = int(time.time() * 1000)
    out = dict(m)
    for k in ("ts", "E", "T_"):
        if k in out:
            out[k] = now
    if isinstance(out.get("data"), dict) and "ts" in out["data"]:
        out["data"] = dict(out["data"], ts=now)
    return out


async def start_ws(server: WsLoopback) -> web.AppRunner:
    from tests.venues.loopback import serve

    runner, server.url = await serve(server.handle, "GET", "ws")
    return runner


@asynccontextmanager
async def live_venue(
    venue: str,
    routes: dict[tuple[str, str], Any],
    reply: Reply,
    keys: tuple[str, str] | None = None,
    repeat_secs: float | None = 0.02,
    drop_after: dict[int, int] | None = None,
    no_stream: bool = False,
) -> AsyncIterator[tuple[Any, Any, WsLoopback]]:
    """A ccxt.pro gateway whose REST and websocket hosts are loopback servers playing recorded payloads:
    yields (gateway, REST loopback, websocket loopback), markets loaded."""
    import ccxt.pro as ccxt_pro

    from bot.venues.ccxt_gateway import VENUE_OPTIONS, CcxtGateway, configure
    from bot.venues.fees import PERP_FEES
    from tests.venues.loopback import Loopback, redirect, start

    lb = Loopback(venue, routes)
    rest = await start(lb)
    wsl = WsLoopback(reply, drop_after=drop_after or {}, repeat_secs=repeat_secs)
    wsr = await start_ws(wsl)
    creds = {"apiKey": keys[0], "secret": keys[1]} if keys else {}
    ex = configure(
        getattr(ccxt_pro, venue)(creds | {"enableRateLimit": False, "timeout": 2000, "options": VENUE_OPTIONS[venue]})
    )
    redirect(ex, lb.url)
    redirect_ws(ex, wsl.url)
    if no_stream:
        ex.has = dict(ex.has) | {"watchTickers": False}  # a venue without the stream
    gw = CcxtGateway(venue, ex, PERP_FEES[venue], max_retries=1, backoff_secs=0.0)
    try:
        await gw.load()
        yield gw, lb, wsl
    finally:
        await gw.close()
        await wsr.cleanup()
        await rest.cleanup()
