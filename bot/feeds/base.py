"""What the assembly and the report need from any feed (replay, synthetic futures, live polling, live stream,
scripted scenario paths)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
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


class AsyncBatches:
    """A synchronous iterator of batches served to ``async for`` (what an async generator over it would do, written
    as a class so that the modules using it can be compiled: mypyc has no async generators)."""

    __slots__ = ("_it",)

    def __init__(self, it: Iterator[MarketBatch]) -> None:
        self._it = it

    def __aiter__(self) -> AsyncBatches:
        return self

    async def __anext__(self) -> MarketBatch:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None
