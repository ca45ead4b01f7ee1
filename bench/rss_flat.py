"""Memory over 1,000,000 market events: a streaming feed (generated on the fly, as a live feed would deliver it) of
Binance BTC spot + perpetual one-minute snapshots, funding settling every 8 h in regimes that make S1 enter and exit
again and again, through the whole path (executor, governor, S1, paper venue, ledger, the report's observer).
Prints the resident set every 100,000 events; the growth between the second and the last sample is the figure
(the first samples include warm-up: imports, caches, the signal windows filling).

    python bench/rss_flat.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal

from bot import logs
from bot.assembly import make_strategies
from bot.backtest.observer import RunObserver
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

SPOT, PERP = "binance:BTC/USDT", "binance:BTC/USDT:USDT"
START = 1_704_067_200  # 2024-01-01 UTC


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def feed(events: int) -> AsyncIterator[MarketBatch]:
    rng = random.Random(11)
    px = 42_000.0
    for k in range(events // 2):
        ts = START + 60 * k
        ts_ns = ts * NS_PER_SEC
        px *= math.exp(rng.gauss(0.0, 0.0008))
        regime = (k // (60 * 24 * 5)) % 2  # five days rich, five days poor
        rate = 0.0003 if regime == 0 else 0.00002
        settle = ts % 28_800 == 0
        half = px * 5e-5
        hi, lo = px * 1.0006, px * 0.9994
        yield MarketBatch(
            ts_ns,
            (
                MarketSnapshot(SPOT, ts_ns, px - half, px + half, px, px, px, hi, lo, 10.0),
                MarketSnapshot(
                    PERP,
                    ts_ns,
                    px - half,
                    px + half,
                    px,
                    px,
                    px,
                    hi,
                    lo,
                    10.0,
                    rate,
                    rate,
                    28_800,
                    (ts // 28_800 + 1) * 28_800 * NS_PER_SEC,
                    FundingSettlement(ts_ns, rate) if settle else None,
                    open_interest=1e9,
                    liq_long_usd=1e6,
                    liq_short_usd=1e6,
                ),
            ),
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    logs.configure("error", "json")
    settings = Settings(_env_file=None)
    instruments = default_instruments(("binance",), ("BTC",))
    clock = SimClock(START * NS_PER_SEC)
    venues = {"binance": PaperVenue("binance", instruments, clock, PaperParams(initial_cash=Decimal(200_000)))}
    governor = Governor(load_rules(None), instruments, snapshot_step_secs=60)
    audit = MemoryAudit()
    ex = Executor(
        lambda: feed(args.events),
        venues,
        governor,
        make_strategies(settings, instruments),
        Ledger(Decimal(200_000)),
        clock,
        instruments,
        bus=EventBus([audit]),
    )
    observer = RunObserver()
    samples: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def tick(batch: MarketBatch, e: Executor) -> None:
        observer(batch, e)
        if e.stats.snapshots % 100_000 == 0:
            samples.append((e.stats.snapshots, rss_mb()))
            print(
                f"  {e.stats.snapshots:>9,} events  RSS {samples[-1][1]:6.1f} MB  orders {e.stats.orders_sent:,}  "
                f"fills {e.stats.fills:,}  funding payments {e.stats.funding_payments:,}",
                flush=True,
            )

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    asyncio.run(ex.run(tick))
    wall = time.perf_counter() - t0
    base, last = samples[1][1], samples[-1][1]
    print(
        f"{ex.stats.snapshots:,} events in {wall:.1f} s ({ex.stats.snapshots / wall:,.0f}/s): RSS "
        f"{samples[1][1]:.1f} MB at {samples[1][0]:,} → {last:.1f} MB at {samples[-1][0]:,} events "
        f"({last - base:+.1f} MB, {(last - base) / max(1, samples[-1][0] - samples[1][0]) * 1e6:+.2f} MB per "
        f"million); {ex.stats.orders_sent:,} orders, {len(audit.decisions):,} decisions kept of "
        f"{sum(audit.by_outcome.values()):,}"
    )


if __name__ == "__main__":
    main()
