"""Typed events and the one bus they travel on.

Everything worth telling — a governor decision, a state transition, a ladder move, an order sent, a venue's order
update, a fill, a funding payment, a borrow charge, a suspect print, a position mismatch, a closed tick — is
published once, when it happens, as one of the small records below. The bus hands each to every sink: the in-memory
audit (reports, scenario timelines), the store's recorder, Prometheus counters and MQTT. A sink's failure is logged
and counted and never reaches the trading loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bot.decisions import Decision, LadderEvent, StateTransition, TransferDecision
from bot.domain import BorrowCharge, Fill, FundingPayment, Order, OrderUpdate, TransferUpdate
from bot.feeds.guard import SuspectPrint
from bot.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DecisionMade:
    decision: Decision
    seconds: float  # wall time Governor.decide took


@dataclass(frozen=True, slots=True)
class TransferDecided:
    decision: TransferDecision


@dataclass(frozen=True, slots=True)
class OrderSent:
    order: Order
    venue: str


@dataclass(frozen=True, slots=True)
class PositionMismatch:
    """The live watchdog saw the ledger and a venue disagree on a position twice in a row."""

    instrument_id: str
    ledger_qty: Decimal
    venue_qty: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class TickClosed:
    ts_ns: int
    equity: float
    unhedged_usd: float  # the largest delta left on any base at the end of the tick
    seconds: float  # wall time of the tick
    idle_usd: Mapping[str, float] = field(default_factory=dict)  # per venue: capital no position needs (known ones)


Event = (
    DecisionMade
    | StateTransition
    | LadderEvent
    | OrderSent
    | OrderUpdate
    | Fill
    | FundingPayment
    | BorrowCharge
    | TransferDecided
    | TransferUpdate
    | SuspectPrint
    | PositionMismatch
    | TickClosed
)


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...


class EventBus:
    """Fans every event out to its sinks, in the order they were added."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self._sinks: list[Sink] = list(sinks)
        self.published = 0
        self.sink_failures: Counter[str] = Counter()

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sink in self._sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # noqa: BLE001 - a sink (MQTT, metrics) must never stop the trading loop
                name = type(sink).__name__
                self.sink_failures[name] += 1
                log.error("events.sink_failed", sink=name, record=type(event).__name__, error=repr(exc))
