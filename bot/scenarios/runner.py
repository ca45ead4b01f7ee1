"""Play a scenario's path through the ordinary assembly (executor, governor, strategies, paper venues) on a simulated
clock, and turn the audit into a timeline of governor actions."""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.assembly import Bot, assemble
from bot.backtest.observer import RunObserver
from bot.clock import SimClock
from bot.domain import NS_PER_SEC, Instrument, MarketBatch, Origin, Purpose
from bot.execution.executor import Executor
from bot.governor import RulesConfig
from bot.report import build_report
from bot.scenarios.paths import HOUR, VENUES
from bot.settings import Settings
from bot.venues.fees import default_instruments


class ScriptedFeed:
    """A list of batches with the attributes the report reads from a feed."""

    step_secs = float(HOUR)

    def __init__(self, batches: list[MarketBatch], name: str, instruments: dict[str, Instrument]) -> None:
        self._batches = batches
        self.data_version = f"scenario:{name}"
        self.rejected_rows: Counter[str] = Counter()
        self.instruments = instruments

    @property
    def n_bars(self) -> int:
        return sum(len(b.snapshots) for b in self._batches)

    @property
    def ts_range_ns(self) -> tuple[int, int]:
        return (self._batches[0].ts_ns, self._batches[-1].ts_ns) if self._batches else (0, 0)

    async def batches(self) -> AsyncIterator[MarketBatch]:
        for b in self._batches:
            yield b


@dataclass(frozen=True, slots=True)
class Event:
    ts_ns: int
    kind: str  # decision | ladder | state | liquidation | transfer
    rule: str
    stage: int | None
    action: str
    size_usd: float
    state: str
    detail: str

    def line(self) -> str:
        when = datetime.fromtimestamp(self.ts_ns / NS_PER_SEC, tz=UTC).strftime("%m-%d %H:%M")
        stage = "" if self.stage is None else str(self.stage)
        size = f"{self.size_usd:,.0f}" if self.size_usd else ""
        return f"{when}  {self.rule:5} {stage:>5}  {self.action:28} {size:>10}  {self.state:9} {self.detail}"


@dataclass(slots=True)
class ScenarioRun:
    bot: Bot
    report: dict[str, Any]
    timeline: list[Event]
    observer: RunObserver
    ticks_ns: list[int] = field(default_factory=list)


def _notional(d: Any, marks: dict[str, float]) -> float:
    return sum(float(leg.qty) * marks.get(leg.instrument_id, 0.0) for leg in d.intent.legs)


def run_batches(name: str, batches: list[MarketBatch], settings: Settings, rules: RulesConfig) -> ScenarioRun:
    """The scenario's path through the ordinary assembly: every strategy, paper-execution and execution setting
    applies as in a backtest; only the feed (the scripted path) and the simulated clock are the scenario's."""
    feed = ScriptedFeed(batches, name, default_instruments(VENUES, ("BTC",)))
    bot = assemble(settings, rules, feed, SimClock(batches[0].ts_ns))
    executor = bot.executor
    observer = RunObserver()
    marks_at: dict[int, dict[str, float]] = {}

    def tick(batch: MarketBatch, ex: Executor) -> None:
        observer(batch, ex)
        marks_at[batch.ts_ns] = {k: s.mark for k, s in ex.market.items()}

    asyncio.run(executor.run(tick))
    report = build_report(bot, observer)
    report["run"]["mode"] = f"scenario {name}"
    return ScenarioRun(bot, report, timeline(bot, marks_at), observer, observer.timeline.ts_ns)


def timeline(bot: Bot, marks_at: dict[int, dict[str, float]]) -> list[Event]:
    """Every governor action: its own intents, every denial or resize, ladder stage changes, state changes and
    liquidations; strategy approvals appear as entries/exits so the story reads end to end."""
    audit = bot.audit
    states: list[tuple[int, str]] = [(t.ts_ns, t.to_state.value) for t in audit.transitions]

    def state_at(ts: int) -> str:
        s = "active"
        for t, v in states:
            if t <= ts:
                s = v
        return s

    ticks = sorted(marks_at)
    out: list[Event] = []
    for d in audit.decisions:
        i = bisect.bisect_right(ticks, d.ts_ns) - 1  # the tick the decision was taken in (latency moves the clock)
        marks = marks_at[ticks[i]] if i >= 0 else {}
        rules = ",".join(sorted({h.rule for h in d.hits})) or "-"
        codes = ",".join(h.code.value for h in d.hits)
        if d.intent.origin is Origin.GOVERNOR:
            kind = d.intent.intent_id.split("-")[1]
            out.append(
                Event(
                    d.ts_ns,
                    "decision",
                    d.intent.reason.split()[0] if d.intent.reason else "gov",
                    None,
                    f"{kind} {d.outcome.value}",
                    _notional(d, marks),
                    d.state.value,
                    d.intent.reason,
                )
            )
        else:
            verb = "entry" if d.intent.purpose is Purpose.ENTRY else d.intent.purpose.value
            scale = f" x{d.scale:.2f}" if d.outcome.value == "resize" else ""
            out.append(
                Event(
                    d.ts_ns,
                    "decision",
                    rules,
                    None,
                    f"{d.intent.source} {verb} {d.outcome.value}{scale}",
                    _notional(d, marks),
                    d.state.value,
                    codes,
                )
            )
    for e in audit.ladder_events:
        out.append(
            Event(
                e.ts_ns,
                "ladder",
                "G3",
                e.to_stage,
                f"{e.key} {e.measure} {e.from_stage}->{e.to_stage}",
                0.0,
                state_at(e.ts_ns),
                f"value {e.value:.4g}",
            )
        )
    for t in audit.transitions:
        out.append(
            Event(
                t.ts_ns,
                "state",
                t.rule,
                None,
                f"state {t.from_state.value}->{t.to_state.value}",
                0.0,
                t.to_state.value,
                t.code.value if t.code else "",
            )
        )
    for td in audit.transfer_decisions:
        ti = td.intent
        where = ti.instrument_id or ti.venue
        out.append(
            Event(
                td.ts_ns,
                "transfer",
                ",".join(sorted({h.rule for h in td.hits})) or "-",
                None,
                f"transfer {td.outcome.value}",
                float(ti.amount),
                td.state.value,
                f"{ti.from_wallet}->{ti.to_wallet} {where} {ti.reason}".strip(),
            )
        )
    for f in bot.executor.stats.fills_log:
        if f.is_liquidation:
            out.append(
                Event(
                    f.ts_ns,
                    "liquidation",
                    "G2",
                    None,
                    "LIQUIDATED",
                    float(f.qty * f.price),
                    state_at(f.ts_ns),
                    f.instrument_id,
                )
            )
    order = {"state": 0, "transfer": 1, "ladder": 2, "decision": 3, "liquidation": 4}
    out.sort(key=lambda e: (e.ts_ns, order[e.kind]))
    return out
