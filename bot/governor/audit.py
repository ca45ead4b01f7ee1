"""The in-memory audit: a sink on the event bus that counts every decision for reports and keeps the latest."""

from __future__ import annotations

import re
from collections import Counter

from bot.decisions import Decision, LadderEvent, Outcome, StateTransition, TransferDecision
from bot.domain import Origin, TransferStatus, TransferUpdate
from bot.events import DecisionMade, TransferDecided

_RULE = re.compile(r"\bG\d\b")


def note_intervention(out: dict[str, Counter[str]], d: Decision) -> None:
    """What the governor changed, by rule: intents it denied or resized (the rules that fired), and the
    risk-reducing intents it issued itself (trim, hedge, de-risk, expiry close, leg completion/unwind, flatten)."""
    if d.intent.origin is Origin.GOVERNOR:
        m = _RULE.search(d.intent.reason)
        kind = d.intent.intent_id.split("-")[1] if d.intent.intent_id.startswith("gov-") else "action"
        out.setdefault(m.group(0) if m else "governor", Counter())[f"issued_{kind}"] += 1
    if d.outcome is not Outcome.APPROVE:
        for h in d.hits:
            out.setdefault(h.rule, Counter())[d.outcome.value] += 1


class MemoryAudit:
    """Counts decisions per (rule, outcome) and interventions per rule over the whole run, and keeps the latest
    ``keep``–2×``keep`` decisions themselves (a long run must not grow without bound; the store keeps them all)."""

    def __init__(self, keep: int = 10_000) -> None:
        self.keep = keep
        self.dropped = 0
        self.interventions: dict[str, Counter[str]] = {}
        self.decisions: list[Decision] = []
        self.transitions: list[StateTransition] = []
        self.ladder_events: list[LadderEvent] = []
        self.transfer_decisions: list[TransferDecision] = []
        self.transfers: list[TransferUpdate] = []  # every transfer a venue carried out (or refused)
        self.by_rule_outcome: Counter[tuple[str, str]] = Counter()
        self.by_code: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.unavailable: Counter[str] = Counter()  # decisions taken without a signal, per signal

    def handle(self, event: object) -> None:
        """A sink on the event bus: decisions, transitions and ladder moves."""
        if isinstance(event, DecisionMade):
            self.decision(event.decision)
        elif isinstance(event, StateTransition):
            self.transitions.append(event)
        elif isinstance(event, LadderEvent):
            self.ladder_events.append(event)
        elif isinstance(event, TransferDecided):
            d = event.decision
            self.transfer_decisions.append(d)
            self.by_outcome[d.outcome.value] += 1
            for h in d.hits:
                self.by_rule_outcome[(h.rule, d.outcome.value)] += 1
                self.by_code[h.code.value] += 1
        elif isinstance(event, TransferUpdate):
            self.transfers.append(event)

    @property
    def transferred_usd(self) -> float:
        """USDT moved by transfers the venues carried out."""
        return float(sum(t.amount for t in self.transfers if t.status is TransferStatus.DONE))

    def decision(self, d: Decision) -> None:
        self.decisions.append(d)
        if len(self.decisions) >= 2 * self.keep:
            self.dropped += len(self.decisions) - self.keep
            self.decisions = self.decisions[-self.keep :]
        note_intervention(self.interventions, d)
        self.by_outcome[d.outcome.value] += 1
        if not d.hits:
            self.by_rule_outcome[("none", d.outcome.value)] += 1
        for name in d.unavailable:
            self.unavailable[name] += 1
        for h in d.hits:
            self.by_rule_outcome[(h.rule, d.outcome.value)] += 1
            self.by_code[h.code.value] += 1
