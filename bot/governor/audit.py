"""Where every decision goes: an audit sink (in memory here; the store implements the same protocol)."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from bot.decisions import Decision, LadderEvent, StateTransition


class AuditSink(Protocol):
    def decision(self, d: Decision) -> None: ...

    def transition(self, t: StateTransition) -> None: ...

    def ladder(self, e: LadderEvent) -> None: ...


class MemoryAudit:
    """Keeps every decision and transition, and counts decisions per (rule, outcome)."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.transitions: list[StateTransition] = []
        self.ladder_events: list[LadderEvent] = []
        self.by_rule_outcome: Counter[tuple[str, str]] = Counter()
        self.by_code: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()  # decisions taken without a signal, per signal

    def decision(self, d: Decision) -> None:
        self.decisions.append(d)
        self.by_outcome[d.outcome.value] += 1
        if not d.hits:
            self.by_rule_outcome[("none", d.outcome.value)] += 1
        for name in d.unavailable:
            self.unavailable[name] += 1
        for h in d.hits:
            self.by_rule_outcome[(h.rule, d.outcome.value)] += 1
            self.by_code[h.code.value] += 1

    def transition(self, t: StateTransition) -> None:
        self.transitions.append(t)

    def ladder(self, e: LadderEvent) -> None:
        self.ladder_events.append(e)
