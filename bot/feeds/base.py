"""What the assembly and the report need from any feed (replay, synthetic futures, live polling, live stream,
scripted scenario paths)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from bot.domain import Instrument, MarketBatch


class Feed(Protocol):
    @property
    def instruments(self) -> Mapping[str, Instrument]: ...

    @property
    def data_version(self) -> str: ...

    @property
    def rejected_rows(self) -> Mapping[str, int]: ...

    @property
    def n_bars(self) -> int:
        """Snapshots played so far (live) or in the whole history (replay)."""

    @property
    def ts_range_ns(self) -> tuple[int, int]: ...

    @property
    def step_secs(self) -> float:
        """Time between two batches: the signals scale their windows by it."""

    def batches(self) -> AsyncIterator[MarketBatch]: ...
