"""The strategy protocol: pure decision code that reads snapshots and positions and emits intents."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.domain import MarketBatch, MarketSnapshot, OrderIntent
from bot.governor.gates import EntryGates


@dataclass(frozen=True, slots=True)
class StrategyView:
    """What a strategy may know: latest snapshots, the bot's positions, which instruments have working orders, and
    which entries the governor's standing state is certain to refuse (a strategy does not propose those)."""

    market: Mapping[str, MarketSnapshot]
    positions: Mapping[str, Decimal]
    busy: Set[str]
    gates: EntryGates = EntryGates()  # what the governor's standing state refuses to any entry now


class Strategy(Protocol):
    name: str

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]: ...

    def opportunity_venues(self) -> list[tuple[str, ...]]:
        """The venues of each position this strategy may hold at once (the allocator's fair shares)."""
        ...
