"""Rolling statistics shared by feeds and the governor (O(1) per update, no allocation on the hot path)."""

from __future__ import annotations

import math
from collections import deque

from bot.domain import SECS_PER_YEAR


class RollingVol:
    """Annualized standard deviation of log returns over a fixed window, O(1) per update."""

    __slots__ = ("_rets", "_sum", "_sumsq", "_window", "_ann", "_prev")

    def __init__(self, window: int, step_secs: float) -> None:
        self._rets: deque[float] = deque()
        self._sum = 0.0
        self._sumsq = 0.0
        self._window = window
        self._ann = math.sqrt(SECS_PER_YEAR / step_secs)
        self._prev: float | None = None

    def push(self, price: float) -> float | None:
        """Add a price; return the annualized volatility once the window is full."""
        prev = self._prev
        self._prev = price
        if prev is None:
            return None
        r = math.log(price / prev)
        rets = self._rets
        rets.append(r)
        self._sum += r
        self._sumsq += r * r
        if len(rets) > self._window:
            old = rets.popleft()
            self._sum -= old
            self._sumsq -= old * old
        n = len(rets)
        if n < self._window:
            return None
        var = (self._sumsq - self._sum * self._sum / n) / (n - 1)
        return math.sqrt(var) * self._ann if var > 0 else 0.0

    @property
    def last_return(self) -> float | None:
        return self._rets[-1] if self._rets else None

    @property
    def per_step_sigma(self) -> float | None:
        n = len(self._rets)
        if n < 2:
            return None
        var = (self._sumsq - self._sum * self._sum / n) / (n - 1)
        return math.sqrt(var) if var > 0 else 0.0
