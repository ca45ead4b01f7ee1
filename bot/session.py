"""One run's lifecycle, shared by the replay run, the backtest and live trading.

``RunSession`` is an ``async with`` over a ``TaskGroup`` (the background tasks: MQTT bridge, live fill loops,
watchdog) and an ``AsyncExitStack`` (store and run lock, HTTP endpoint, MQTT, live connections), so whatever was
opened is closed in reverse order however the run ends. Signal handlers are installed first, before anything is
opened or announced: a SIGTERM at any moment of start-up stops the run cleanly (after the current tick once the
executor runs) instead of killing the process.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from bot.assembly import Bot
from bot.settings import Settings

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunSession:
    def __init__(self, settings: Settings, signals: bool = True) -> None:
        self.settings = settings
        self._signals = signals
        self.stack = AsyncExitStack()
        self._tasks = asyncio.TaskGroup()
        self.bot: Bot | None = None
        self.stop_requested = False
        self.ops: Any = None  # the metrics/health endpoint, when telemetry is on

    async def __aenter__(self) -> RunSession:
        await self._tasks.__aenter__()
        await self.stack.__aenter__()
        if self._signals:
            loop = asyncio.get_running_loop()
            for sig in _SIGNALS:  # stop after the current tick, then report (exit 0)
                loop.add_signal_handler(sig, self.request_stop)
            self.stack.callback(lambda: [loop.remove_signal_handler(s) for s in _SIGNALS])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            await self.stack.__aexit__(exc_type, exc, tb)
        finally:
            await self._tasks.__aexit__(exc_type, exc, tb)
        return None

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: the executor stops after its current tick (or before its first)."""
        self.stop_requested = True
        if self.bot is not None:
            self.bot.executor.stop()

    def adopt(self, bot: Bot) -> Bot:
        """The assembled bot: a stop asked for during start-up reaches it; its live connections close with us."""
        self.bot = bot
        for gw in bot.market_gateways.values():
            self.stack.push_async_callback(gw.close)
        if self.stop_requested:
            bot.executor.stop()
        return bot

    def on_close(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self.stack.push_async_callback(fn)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task of the run, cancelled when the run ends (its failure ends the run)."""
        task = self._tasks.create_task(coro, name=name)
        self.stack.callback(task.cancel)
        return task

    async def join_firm(self) -> None:
        """Put the bot under the firm-wide budget when the settings enable it (``bot.firm``): its entries reserve
        their share first; the last report and the end of its reservations come with a clean stop."""
        bot = self.bot
        assert bot is not None
        url = self.settings.firm_url()
        if url is None:
            return
        from bot.firm.budget import FirmBudget
        from bot.firm.gate import FirmGate
        from bot.logs import get_logger
        from bot.store.run_lock import holder_name

        f = self.settings.firm
        budget = FirmBudget(url, f.name, self.settings.bot_id, bot.rules.firm, holder_name())
        gate = FirmGate(budget, bot.instruments, f.sync_secs, f.timeout_secs, f.retry_secs)
        await gate.open()
        bot.executor.firm = gate

        async def leave() -> None:
            try:
                await bot.executor.report_to_firm(last=True)
            except Exception as exc:  # noqa: BLE001 - never mask how the run ended; the lease ends by itself
                get_logger(__name__).error("firm.leave_failed", error=type(exc).__name__)
                await gate.budget.close()

        self.on_close(leave)

    async def start_telemetry(self, ops: bool = True) -> None:
        """Metrics and health (when enabled and ``ops``) and the MQTT bridge (when enabled), subscribed to the
        bot's events."""
        from bot.telemetry.wiring import make_bridge, start_ops

        bot = self.bot
        assert bot is not None
        if ops and self.settings.telemetry.enabled:
            self.ops = await start_ops(self.settings, bot)
            self.on_close(self.ops.stop)
        if self.settings.mqtt.enabled:
            bridge = make_bridge(self.settings, bot)
            if self.ops is not None:
                self.ops.metrics.watch(mqtt=bridge)
            task = self._tasks.create_task(bridge.run(), name="mqtt-bridge")

            async def stop_bridge() -> None:
                await bridge.stop()
                await asyncio.wait([task], timeout=5)
                task.cancel()

            self.on_close(stop_bridge)
