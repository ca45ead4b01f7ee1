"""One retry and backoff helper for every loop that talks to something remote (venue REST calls, order placement,
market-data streams, the MQTT broker): capped exponential delays with full jitter in [0.5, 1.5) of the step."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Backoff:
    """Delays of ``initial × factor^n``, capped at ``cap``, each jittered; ``reset`` after a success."""

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _step: float = 0.0

    def next_delay(self) -> float:
        self._step = self.initial if self._step == 0.0 else min(self._step * self.factor, self.cap)
        return self._step * (0.5 + self.rng.random())

    def reset(self) -> None:
        self._step = 0.0

    async def wait(self, sleep: Sleep = asyncio.sleep) -> float:
        delay = self.next_delay()
        await sleep(delay)
        return delay


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    retryable: Callable[[BaseException], bool],
    attempts: int,
    backoff: Backoff,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Await ``fn()``; on an error ``retryable`` accepts, wait and try again, at most ``attempts`` times in all.
    Anything else, or the last failure, propagates."""
    for attempt in range(attempts):
        try:
            return await fn()
        except Exception as exc:
            if not retryable(exc) or attempt == attempts - 1:
                raise
            if on_retry is not None:
                on_retry(exc)
            await backoff.wait(sleep)
    raise AssertionError("attempts must be at least 1")
