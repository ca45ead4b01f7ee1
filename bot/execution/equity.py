"""The equity path of a run in constant memory: the last value, the last equity of each UTC day (for daily returns),
the running peak and the worst drawdown from it (every tick counts). A run of a million ticks keeps a few hundred
numbers, not a million."""

from __future__ import annotations

from dataclasses import dataclass, field

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(slots=True)
class EquityTrack:
    start: float = 0.0
    last_ts_ns: int = 0
    last: float = 0.0
    peak: float = 0.0
    max_drawdown: float = 0.0
    ticks: int = 0
    daily: dict[int, float] = field(default_factory=dict)  # UTC day number -> last equity that day

    def begin(self, start_equity: float) -> None:
        self.start = self.last = self.peak = start_equity

    def add(self, ts_ns: int, equity: float) -> None:
        self.last_ts_ns, self.last = ts_ns, equity
        self.ticks += 1
        self.daily[ts_ns // NS_PER_DAY] = equity
        if equity > self.peak:
            self.peak = equity
        elif self.peak > 0:
            dd = 1.0 - equity / self.peak
            if dd > self.max_drawdown:
                self.max_drawdown = dd

    def __bool__(self) -> bool:
        return self.ticks > 0

    def daily_closes(self) -> list[float]:
        return [self.daily[d] for d in sorted(self.daily)]
