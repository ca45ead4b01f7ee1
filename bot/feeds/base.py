"""The feed protocol: an async stream of ``MarketBatch`` in time order, plus what it knows of its instruments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from bot.domain import Instrument, MarketBatch


class Feed(Protocol):
    instruments: Mapping[str, Instrument]
    data_version: str

    def batches(self) -> AsyncIterator[MarketBatch]: ...
