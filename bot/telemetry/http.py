"""The operations endpoint: ``/metrics`` (Prometheus exposition), ``/healthz`` (the process is alive and its loop
turns), ``/readyz`` (feeds fresh, store and venues reachable) — one aiohttp server on one port."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.telemetry.metrics import Metrics

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


class OpsServer:
    def __init__(self, metrics: Metrics, ready: ReadyCheck, host: str = "127.0.0.1", port: int = 9108) -> None:
        self.metrics = metrics
        self._ready = ready
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.heartbeat = time.monotonic()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        self.heartbeat = time.monotonic()  # answering at all proves the event loop turns
        return web.json_response({"status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        checks = await self._ready()
        ok = all(checks.values())
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)
