"""The emulator's HTTP side: one loopback server for any number of emulated venues, each under its real host name as
the first path part (``http://127.0.0.1:PORT/fapi.binance.com/fapi/v1/order``), so a ccxt instance needs only its
URLs rewritten (``tests.venues.loopback.redirect``) and its own request building, signing and parsing run unchanged.

Faults scripted per path (``Account.faults``): ``429`` and ``503`` refuse before the request takes effect;
``timeout`` lets it take effect and answers after the client gave up; ``drop`` lets it take effect and closes the
connection unanswered. A control API under ``/_emu/`` moves prices, settles funding and reads the state, so a test
in another process (a bot under SIGKILL) can drive the same venue.

Run by hand: ``python -m tests.emulator --port 8765`` (Binance spot + USDⓈ-M and Bybit, prices from the bundled
history's first bar), then point ``CARRYBOT_EXCHANGES__BINANCE__API_URL`` at it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from tests.emulator.venue import Account, VenueReject


@dataclass(frozen=True, slots=True)
class Signed:
    """The request as sent, for a dialect to check its signature: the query and body as one string, the headers."""

    raw: str
    headers: dict[str, str]
    body: str
    method: str = ""
    path: str = ""  # as the venue sees it: without the host part (``/api/v5/trade/order``)
    query: str = ""


class Dialect(Protocol):
    venue: str
    acct: Account
    request: Signed

    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str]], Any]]: ...


@dataclass
class Emulator:
    """Venues served on one loopback port. ``timeout_secs``: how late a ``timeout`` fault answers."""

    dialects: dict[str, Dialect] = field(default_factory=dict)
    timeout_secs: float = 1.5
    url: str = ""
    unknown: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _routes: dict[tuple[str, str], tuple[Dialect, Callable[[dict[str, str]], Any]]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def add(self, dialect: Dialect) -> Dialect:
        self.dialects[dialect.venue] = dialect
        for key, fn in dialect.routes().items():
            self._routes[key] = (dialect, fn)
        return dialect

    def hits(self, path: str, method: str | None = None) -> int:
        return sum(1 for m, p in self.requests if p == path and method in (None, m))

    async def handle(self, req: web.Request) -> web.StreamResponse:
        path = "/" + req.match_info["tail"]
        if path.startswith("/_emu/"):
            return await self._control(path, req)
        self.requests.append((req.method, path))
        route = self._routes.get((req.method, path))
        if route is None:
            self.unknown.append(f"{req.method} {path}?{req.query_string}")
            return web.json_response({"code": -1, "msg": f"no route {path}"}, status=404)
        dialect, fn = route
        body = (await req.read()).decode()
        raw = req.query_string + ("&" if req.query_string and body else "") + body
        params = dict(parse_qsl(req.query_string, keep_blank_values=True)) | dict(
            parse_qsl(body, keep_blank_values=True)
        )
        if body.startswith("{"):  # JSON bodies (Bybit, OKX)
            params = dict(parse_qsl(req.query_string)) | {k: str(v) for k, v in json.loads(body).items()}
        elif body.startswith("["):  # a batch of one (ccxt places OKX orders through batch-orders)
            items = json.loads(body)
            params = {k: str(v) for k, v in (items[0] if items else {}).items()} | {"_batch": str(len(items))}
        fault = dialect.acct.faults.take(path)
        if fault == "429":
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is 1200 requests per minute."}, status=429
            )
        if fault == "503":
            return web.Response(status=503, text="Service Unavailable")
        try:
            venue_path = "/" + path.lstrip("/").partition("/")[2]
            dialect.request = Signed(raw, dict(req.headers), body, req.method, venue_path, req.query_string)
            out = fn(params)
            if asyncio.iscoroutine(out):
                out = await out
            resp: web.StreamResponse = web.json_response(out, dumps=_dumps)
        except VenueReject as exc:
            resp = self._reject(dialect, exc)
        if fault == "timeout":
            await asyncio.sleep(self.timeout_secs)
        if fault == "drop":
            assert req.transport is not None
            req.transport.close()
        return resp

    def _reject(self, dialect: Dialect, exc: VenueReject) -> web.Response:
        shape = getattr(dialect, "reject_body", None)
        body = shape(exc) if shape else {"code": exc.code, "msg": exc.msg}
        return web.json_response(body, status=getattr(dialect, "reject_status", None) or exc.status)

    async def _control(self, path: str, req: web.Request) -> web.Response:
        q = dict(req.query)
        dialect = self.dialects[q["venue"]]
        acct = dialect.acct
        if path == "/_emu/price":
            acct.set_price(q["market"], q["symbol"], Decimal(q["price"]))  # type: ignore[arg-type]
        elif path == "/_emu/fund":
            acct.settle_funding(q["symbol"], Decimal(q["rate"]))
        elif path == "/_emu/rate":  # the rate the next settlements pay (the venue's premiumIndex shows it)
            dialect.funding_rate[q["symbol"]] = Decimal(q["rate"])  # type: ignore[attr-defined]
        elif path == "/_emu/freeze":  # prices stop walking (a test that needs a fixed mark)
            dialect.frozen = q.get("on", "1") == "1"  # type: ignore[attr-defined]
        elif path == "/_emu/advance":
            acct.advance(int(q["ms"]))
        elif path == "/_emu/fault":
            acct.faults.add(q["path"], *q["faults"].split(","))
        return web.json_response(state_of(acct), dumps=_dumps)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def state_of(acct: Account) -> dict[str, Any]:
    """What the venue holds, for a test in another process: wallets, positions, orders, trades, income."""
    return {
        "wallets": {w: {a: str(v) for a, v in b.items()} for w, b in acct.wallets.items()},
        "prices": {f"{m}|{s}": str(p) for (m, s), p in acct.prices.items()},
        "positions": {f"{s}|{side}": str(p.qty) for (s, side), p in acct.positions.items() if p.qty},
        "orders": [
            {
                "client_id": o.client_id,
                "symbol": o.symbol,
                "market": o.market,
                "side": o.side,
                "price": str(o.price) if o.price is not None else None,
                "status": o.status,
                "filled": str(o.filled),
            }
            for o in acct.orders
        ],
        "trades": len(acct.trades),
        "funding": [str(i.amount) for i in acct.income if i.kind == "FUNDING_FEE"],
        "submissions": acct.submissions,
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
