"""A one-line progress bar for long backtests (stderr; redrawn at most ~10 times a second, so it costs nothing
measurable on the hot loop)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

NS_PER_SEC = 1_000_000_000


class ProgressBar:
    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        width: int = 30,
        every_secs: float = 0.1,
        label: str = "backtest",
    ) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every_secs
        self.label = label
        self.done = 0
        self._next = 0.0
        self._t0 = time.monotonic()
        self.draws = 0

    def update(self, done: int, ts_ns: int | None = None, equity: float | None = None) -> None:
        self.done = done
        now = time.monotonic()
        if now < self._next and done < self.total:
            return
        self._next = now + self.every
        self.draw(ts_ns, equity, now)

    def draw(self, ts_ns: int | None = None, equity: float | None = None, now: float | None = None) -> None:
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * self.width)
        elapsed = (now or time.monotonic()) - self._t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        when = datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d") if ts_ns else ""
        eq = f"  equity {equity:,.0f}" if equity is not None else ""
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {frac:6.1%}  {when}{eq}"
            f"  {elapsed:5.1f}s elapsed, ~{eta:4.1f}s left "
        )
        self.stream.flush()
        self.draws += 1

    def close(self) -> None:
        self.draw()
        self.stream.write("\n")
        self.stream.flush()
