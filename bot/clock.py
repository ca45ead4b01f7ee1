"""Clocks. The executor and venues take a ``Clock`` and cannot tell which one they run under.

- ``RealClock``: wall time (live trading).
- ``SimClock``: simulated time that jumps (backtests run as fast as the CPU allows).
- ``PacedClock``: simulated time that advances in step with wall time at ``speed`` simulated seconds per wall
  second (paper replay that plays a history in about a minute).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from bot.domain import NS_PER_SEC


class Clock(Protocol):
    def now_ns(self) -> int: ...

    async def sleep(self, secs: float) -> None: ...

    async def sleep_until(self, ts_ns: int) -> None: ...


class RealClock:
    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep(self, secs: float) -> None:
        await asyncio.sleep(max(0.0, secs))

    async def sleep_until(self, ts_ns: int) -> None:
        await asyncio.sleep(max(0.0, (ts_ns - time.time_ns()) / NS_PER_SEC))


class SimClock:
    """Simulated time. ``sleep`` advances it at once; time never goes backwards."""

    __slots__ = ("_now_ns", "_sleeps")
    YIELD_EVERY = 64  # sleeps between yields to the event loop (the other tasks still run; the hot loop stays hot)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns
        self._sleeps = 0

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns

    async def sleep(self, secs: float) -> None:
        self.advance_to(self._now_ns + int(secs * NS_PER_SEC))
        await asyncio.sleep(0)

    async def sleep_until(self, ts_ns: int) -> None:
        self.advance_to(ts_ns)
        self._sleeps += 1
        if self._sleeps % self.YIELD_EVERY == 0:
            await asyncio.sleep(0)


class PacedClock(SimClock):
    """Simulated time whose sleeps also take wall time: ``speed`` simulated seconds per wall second.

    Time advances only through sleeps, exactly as under ``SimClock``, so decisions are the same as in a backtest;
    only the wall-clock pacing differs (a paper replay that plays 18 months in about a minute).
    """

    __slots__ = ("_speed",)

    def __init__(self, start_ns: int, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        super().__init__(start_ns)
        self._speed = speed

    async def sleep(self, secs: float) -> None:
        await asyncio.sleep(max(0.0, secs) / self._speed)
        self.advance_to(self._now_ns + int(secs * NS_PER_SEC))

    async def sleep_until(self, ts_ns: int) -> None:
        await asyncio.sleep(max(0, ts_ns - self._now_ns) / NS_PER_SEC / self._speed)
        self.advance_to(ts_ns)


def wall_ns() -> int:
    """The wall clock in ns (venue events stamped when the bot learns of them)."""
    return time.time_ns()
