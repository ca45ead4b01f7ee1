"""The event bus: a failing sink is counted and logged, never stops the publisher or the other sinks."""

from __future__ import annotations

from bot.domain import ZERO, OrderStatus, OrderUpdate
from bot.events import Event, EventBus


class Broken:
    def handle(self, event: Event) -> None:
        raise RuntimeError("sink down")


class Keeps:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    def handle(self, event: Event) -> None:
        self.seen.append(event)


def test_a_failing_sink_is_counted_and_the_others_still_get_the_event() -> None:
    keeps = Keeps()
    bus = EventBus([Broken(), keeps])
    ev = OrderUpdate("binance", "c1", OrderStatus.ACCEPTED, ZERO, 1)
    bus.publish(ev)
    bus.publish(ev)
    assert keeps.seen == [ev, ev]
    assert bus.sink_failures["Broken"] == 2
