"""A loopback HTTP server standing in for any exchange's REST hosts: every URL of a ccxt instance is rewritten to
``http://127.0.0.1:PORT/<original host>/<path>``, and routes answer from recorded real payloads in
``tests/fixtures/<venue>/``. ccxt's own request building, signing and parsing run; so does aiohttp. Unknown requests
are recorded and answered 404 (a test can assert none happened). Faults are scripted per route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.venues.ccxt_markets import route_through

FIXTURES = Path(__file__).parents[1] / "fixtures"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fixture(venue: str, name: str) -> Any:
    return json.loads((FIXTURES / venue / name).read_text())


def redirect(exchange: Any, base: str) -> None:
    """Point every REST URL of a ccxt exchange at the loopback server (the bot's own ``route_through``, which the
    ``api_url`` setting uses), keeping the host as the first path part."""
    route_through(exchange, base)


@dataclass
class Loopback:
    venue: str
    routes: dict[tuple[str, str], Handler | str | Callable[[web.Request], Any]] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)  # path -> scripted faults, consumed in order
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, req: web.Request) -> web.StreamResponse:
        path = "/" + req.match_info["tail"]
        self.requests.append((req.method, path, dict(req.query)))
        self.headers.append(dict(req.headers))
        script = self.faults.get(path)
        if script:
            fault = script.pop(0)
            if fault == "429":
                return web.json_response({"code": -1003, "msg": "Too many requests."}, status=429)
            if fault == "503":
                return web.Response(status=503, text="Service Unavailable")
            if fault == "malformed":
                return web.Response(text='{"symbol": "BTCUSDT", "orderId": ', content_type="application/json")
            if fault == "slow":  # the request takes effect, the answer arrives after the client gave up
                route = self.routes.get((req.method, path)) or self.routes.get(("*", path))
                if route is not None and not isinstance(route, str):
                    out = route(req)
                    if asyncio.iscoroutine(out):
                        await out
                await asyncio.sleep(1.0)
                return web.json_response({"late": True})
            if fault.startswith("json:"):  # a venue error body, "json:<status>:<body>"
                _, status, body = fault.split(":", 2)
                return web.Response(status=int(status), text=body, content_type="application/json")
        route = self.routes.get((req.method, path)) or self.routes.get(("*", path))
        if route is None:
            self.unknown.append(f"{req.method} {path}?{req.query_string}")
            return web.json_response({"code": -1, "msg": f"no route {path}"}, status=404)
        if isinstance(route, str):
            return web.Response(text=(FIXTURES / self.venue / route).read_text(), content_type="application/json")
        out = route(req)
        if asyncio.iscoroutine(out):
            out = await out
        return out if isinstance(out, web.StreamResponse) else web.json_response(out)

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)


async def serve(handler: Handler, method: str = "*", scheme: str = "http") -> tuple[web.AppRunner, str]:
    """Run ``handler`` for every path on an ephemeral loopback port; (runner, base URL)."""
    app = web.Application()
    app.router.add_route(method, "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{scheme}://127.0.0.1:{port}"


async def start(server: Loopback) -> web.AppRunner:
    runner, server.url = await serve(server.handle)
    return runner
