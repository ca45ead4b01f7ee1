"""A small harness that runs the real executor, governor and paper venue over scripted market paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from bot.clock import SimClock
from bot.domain import NS_PER_SEC, Instrument, MarketBatch, MarketSnapshot, OrderIntent
from bot.events import EventBus
from bot.execution.executor import Executor
from bot.governor import Governor, RulesConfig
from bot.governor.audit import MemoryAudit
from bot.ledger import Ledger
from bot.strategies.base import StrategyView
from bot.venues.paper import PaperParams, PaperVenue
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, T0, snap

H8 = 8 * 3600 * NS_PER_SEC
START = T0 - 60 * 86_400 * NS_PER_SEC  # 2023-09-15: far from a quarterly expiry at first

# each run's audit and per-tick log, for the tests to read (an Executor takes no new attributes: it may be a
# compiled class); the executor is kept with them so that its id is not reused
_RUNS: dict[int, tuple[Executor, MemoryAudit, list[tuple[int, dict[str, int], dict[str, float]]]]] = {}


def audit_of(ex: Executor) -> MemoryAudit:
    return _RUNS[id(ex)][1]


def tick_log_of(ex: Executor) -> list[tuple[int, dict[str, int], dict[str, float]]]:
    """(tick time, the governor's ladder stages, the positions) after every tick."""
    return _RUNS[id(ex)][2]


BYBIT_PERP = "bybit:BTC/USDT:USDT"


def path(
    prices: list[float],
    rates: list[float] | None = None,
    start: int = START,
    step: int = H8,
    drop_perp_after: int | None = None,
    range_pct: float = 0.005,
) -> list[MarketBatch]:
    """Binance spot and perp and Bybit perp at one price; each bar's range spans the move since the previous one
    (±0.5%)."""
    out = []
    for k, p in enumerate(prices):
        ts = start + k * step
        prev = prices[k - 1] if k else p
        hi, lo = max(p, prev) * (1 + range_pct), min(p, prev) * (1 - range_pct)
        rate = rates[k] if rates else 0.0001
        perp = snap(
            BTC_PERP,
            p,
            ts_ns=ts,
            rate=rate,
            settle=True,
            high=hi if k else None,
            low=lo if k else None,
            half_spread=p * 5e-5,
        )
        spot = snap(BTC_SPOT, p, ts_ns=ts, high=hi if k else None, low=lo if k else None, half_spread=p * 5e-5)
        other = replace(perp, instrument_id=BYBIT_PERP)
        snaps: tuple[MarketSnapshot, ...] = (
            (spot,) if drop_perp_after is not None and k > drop_perp_after else (spot, perp, other)
        )
        out.append(MarketBatch(ts, snaps))
    return out


class Scripted:
    """A strategy that emits the intents a test plans, at given ticks."""

    name = "scripted"

    def __init__(self, plan: dict[int, Callable[[StrategyView, int], list[OrderIntent]]]) -> None:
        self.plan = plan
        self.tick = -1

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]:
        self.tick += 1
        fn = self.plan.get(self.tick)
        return fn(view, now_ns) if fn else []


def run(
    batches: list[MarketBatch],
    plan: dict,
    rules: RulesConfig | None = None,
    cash: Decimal = Decimal(100_000),
    instruments: Mapping[str, Instrument] | None = None,
    params: PaperParams | None = None,
    firm: Any = None,
) -> Executor:
    """``firm``: a ``FirmGate`` the entries reserve through (``bot.firm``)."""
    inst = instruments or INSTRUMENTS
    clock = SimClock(batches[0].ts_ns)
    p = params or PaperParams(initial_cash=cash, latency_secs=0.0)
    venues = {v: PaperVenue(v, inst, clock, p) for v in ("binance", "bybit")}
    gov = Governor(rules or RulesConfig(), inst)
    ledger = Ledger(cash * 2)

    async def feed() -> AsyncIterator[MarketBatch]:
        for b in batches:
            yield b

    audit = MemoryAudit()
    ex = Executor(feed, venues, gov, [Scripted(plan)], ledger, clock, inst, bus=EventBus([audit]))
    ex.firm = firm
    log: list[tuple[int, dict[str, int], dict[str, float]]] = []
    _RUNS[id(ex)] = (ex, audit, log)

    def tick(b: MarketBatch, e: Executor) -> None:
        positions = {k: v for k, v in e.account_view().positions.items()}
        log.append((b.ts_ns, dict(gov.ladders.snapshot()), positions))  # type: ignore

    async def go() -> None:
        if firm is not None:  # joined on the run's own event loop (its connections belong to it)
            await firm.open()
        await ex.run(tick)
        if firm is not None:
            await ex.report_to_firm(last=True)

    asyncio.run(go())
    return ex
