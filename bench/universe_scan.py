"""A wide universe: S1 scanning 500 perpetuals (and their spot markets) on one venue, through the whole path
(executor, governor, S1, allocator, paper venue, ledger) — CPU per tick and per perp-timestamp.

The feed is generated (seed 5): 500 bases at prices from 0.1 to 50,000, one snapshot of each spot and perp every
8 h, funding rates drawn per base, a fifth of them rich enough for S1 to want an entry, so that the capital runs out
and most proposals are refused, as in a real scan. The first 20 ticks (signal windows filling) are not counted.

    python bench/universe_scan.py [--bases 500] [--ticks 300] [--profile]
Target (issue #17): ≤ 10 ms CPU per tick at 500 perps.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import platform
import pstats
import random
import statistics
import time
from collections.abc import AsyncIterator
from decimal import Decimal

from bot import logs
from bot.assembly import allocation_policy, make_strategies
from bot.clock import SimClock
from bot.domain import NS_PER_SEC, FundingSettlement, MarketBatch, MarketSnapshot
from bot.events import EventBus
from bot.execution.executor import Executor
from bot.governor import Governor
from bot.governor.audit import MemoryAudit
from bot.governor.rules_config import load_rules
from bot.ledger import Ledger
from bot.settings import Settings
from bot.venues.fees import default_instruments
from bot.venues.paper import PaperParams, PaperVenue

START = 1_704_067_200  # 2024-01-01 UTC
H8 = 28_800
WARM = 20


def bases_of(n: int) -> tuple[str, ...]:
    return ("BTC", "ETH", *(f"C{k:03d}" for k in range(n - 2)))


async def feed(bases: tuple[str, ...], ticks: int) -> AsyncIterator[MarketBatch]:
    rng = random.Random(5)
    px = {b: 10 ** rng.uniform(-1, 4.7) for b in bases}
    mean_rate = {b: (0.0004 if rng.random() < 0.2 else rng.uniform(-0.0001, 0.0001)) for b in bases}
    for k in range(ticks):
        ts = START + H8 * k
        ts_ns = ts * NS_PER_SEC
        snaps = []
        for b in bases:
            p = px[b] = px[b] * math.exp(rng.gauss(0.0, 0.01))
            half, hi, lo = p * 5e-5, p * 1.01, p * 0.99
            rate = mean_rate[b] + rng.gauss(0.0, 0.00002)
            snaps.append(MarketSnapshot(f"binance:{b}/USDT", ts_ns, p - half, p + half, p, p, p, hi, lo, 1e6))
            snaps.append(
                MarketSnapshot(
                    f"binance:{b}/USDT:USDT",
                    ts_ns,
                    p - half,
                    p + half,
                    p,
                    p,
                    p,
                    hi,
                    lo,
                    1e6,
                    rate,
                    rate,
                    H8,
                    (ts + H8) * NS_PER_SEC,
                    FundingSettlement(ts_ns, rate),
                )
            )
        yield MarketBatch(ts_ns, tuple(snaps))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bases", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=300)
    ap.add_argument("--profile", action="store_true", help="print where the time goes (cProfile, top 25)")
    args = ap.parse_args()
    logs.configure("error", "json")
    bases = bases_of(args.bases)
    settings = Settings(_env_file=None)
    instruments = default_instruments(("binance",), bases)
    clock = SimClock(START * NS_PER_SEC)
    venues = {"binance": PaperVenue("binance", instruments, clock, PaperParams(initial_cash=Decimal(1_000_000)))}
    audit = MemoryAudit()
    rules = load_rules(None)
    ex = Executor(
        lambda: feed(bases, args.ticks),
        venues,
        Governor(rules, instruments, snapshot_step_secs=H8),
        make_strategies(settings, instruments),
        Ledger(Decimal(1_000_000)),
        clock,
        instruments,
        bus=EventBus([audit]),
        allocation=allocation_policy(settings, rules),  # as the assembly sizes entries
    )
    cpu: list[float] = []
    last = [time.process_time()]

    def tick(batch: MarketBatch, e: Executor) -> None:
        now = time.process_time()
        if e.stats.ticks > WARM:
            cpu.append(now - last[0])
        last[0] = now

    prof = cProfile.Profile() if args.profile else None
    if prof is not None:
        prof.enable()
    asyncio.run(ex.run(tick))
    if prof is not None:
        prof.disable()
    ms = sorted(x * 1000 for x in cpu)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.bases} perps + {args.bases} spot, {ex.stats.ticks} ticks ({len(ms)} counted): CPU per tick "
        f"p50 {statistics.median(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms, max {ms[-1]:.1f} ms; "
        f"{statistics.fmean(ms) * 1000 / args.bases:.0f} µs per perp-timestamp | {ex.stats.intents:,} intents, "
        f"{ex.stats.orders_sent:,} orders, outcomes {dict(audit.by_outcome)}, "
        f"refusals {dict(audit.by_code.most_common(4))} | target ≤ 10 ms per tick"
        + ("" if prof is None else " (under cProfile: slower)")
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
