"""G3 trim / hedge / de-risk ladder.

Three thresholds on a risk measure — drawdown from peak equity (account), distance to liquidation and crowding score
(per position, a position being every leg on one base asset) — give stages 1 (trim ``trim_pct`` of every leg),
2 (hedge: neutralise the residual delta) and 3 (de-risk: close). Stages only tighten while the measure worsens; they
reset to 0 only once the measure has recovered past the stage-1 threshold by the hysteresis band. In the final week
before an expiry the drawdown bands widen. While a ladder is above stage 0, entries that grow its position are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.decisions import DenyCode, LadderEvent, RuleHit, RuleId
from bot.governor.context import CheckContext
from bot.governor.rules_config import LadderBands

ACCOUNT = "account"
STAGE_CODES = {1: DenyCode.LADDER_TRIM, 2: DenyCode.LADDER_HEDGE, 3: DenyCode.LADDER_DERISK}


def stage_for(value: float, bands: LadderBands, widen: float = 1.0) -> int:
    if bands.worse == "higher":
        return sum(1 for t in bands.stages if value >= t * widen)
    return sum(1 for t in bands.stages if value <= t / widen)


def recovered(value: float, bands: LadderBands, hysteresis: float, widen: float = 1.0) -> bool:
    if bands.worse == "higher":
        return value < bands.stages[0] * widen * (1 - hysteresis)
    return value > bands.stages[0] / widen * (1 + hysteresis)


def advance(current: int, value: float | None, bands: LadderBands, hysteresis: float, widen: float = 1.0) -> int:
    """The next stage: up at once when the measure crosses a band, back to 0 only past the hysteresis band;
    an unavailable measure holds the stage."""
    if value is None:
        return current
    k = stage_for(value, bands, widen)
    if k > current:
        return k
    if current and recovered(value, bands, hysteresis, widen):
        return 0
    return current


@dataclass(slots=True)
class Ladders:
    """Stage per (key, measure); a key's stage is the highest of its measures."""

    stages: dict[tuple[str, str], int] = field(default_factory=dict)
    _by_key: dict[str, int] = field(default_factory=dict)  # highest stage per key, kept current

    def stage(self, key: str) -> int:
        return self._by_key.get(key, 0)

    def export(self) -> list[list[Any]]:
        """The stages as JSON-ready ``[key, measure, stage]`` rows (for the store)."""
        return [[k, m, v] for (k, m), v in sorted(self.stages.items())]

    def restore(self, rows: Iterable[Sequence[Any]]) -> None:
        """Back from ``export()`` (after a restart)."""
        self.stages.clear()
        for key, measure, stage in rows:
            self.stages[(key, measure)] = int(stage)
            self._recompute(key)

    def _recompute(self, key: str) -> None:
        top = max((s for (k, _), s in self.stages.items() if k == key), default=0)
        if top:
            self._by_key[key] = top
        else:
            self._by_key.pop(key, None)

    def update(
        self,
        key: str,
        measure: str,
        value: float | None,
        bands: LadderBands,
        hysteresis: float,
        now_ns: int,
        widen: float = 1.0,
    ) -> LadderEvent | None:
        old = self.stages.get((key, measure), 0)
        new = advance(old, value, bands, hysteresis, widen)
        if new == old:
            return None
        self.stages[(key, measure)] = new
        self._recompute(key)
        return LadderEvent(now_ns, key, measure, old, new, value if value is not None else float("nan"))

    def clear(self, key: str, now_ns: int, measures: set[str] | None = None) -> list[LadderEvent]:
        """The position behind ``key`` is gone: its ladders (or only ``measures``) start again from stage 0."""
        events = []
        for (k, measure), stage in list(self.stages.items()):
            if k == key and (measures is None or measure in measures):
                del self.stages[(k, measure)]
                if stage:
                    events.append(LadderEvent(now_ns, key, measure, stage, 0, float("nan")))
        self._recompute(key)
        return events

    def keys(self) -> set[str]:
        return {k for k, _ in self.stages}

    def snapshot(self) -> Mapping[str, int]:
        keys = {k for k, _ in self.stages}
        return {k: self.stage(k) for k in sorted(keys)}


class LadderGate:
    """Entries that grow a position whose ladder (or the account's) is above stage 0 are refused."""

    rule_id = RuleId.G3
    relative = False

    def __init__(self, ladders: Ladders) -> None:
        self._ladders = ladders

    def check(self, ctx: CheckContext) -> RuleHit | None:
        ladders = self._ladders
        if not ladders._by_key:
            return None
        account = ladders.stage(ACCOUNT)
        for pl in ctx.legs:
            if not pl.increases:
                continue
            stage = max(account, self._ladders.stage(pl.instrument.base))
            if stage:
                return RuleHit(
                    self.rule_id,
                    STAGE_CODES[stage],
                    0.0,
                    {"base": pl.instrument.base, "stage": stage, "account_stage": account},
                )
        return None
