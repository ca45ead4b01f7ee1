"""Snapshots per second through the whole path (replay feed → strategy → governor → paper venue → ledger) on the
bundled data, simulated clock, one core — for each strategy. Prints figures; asserts nothing.

    python bench/backtest_throughput.py [--repeat N] [--strategy s1|s2|s3|all]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import time

from bot import logs
from bot.assembly import build_bot
from bot.governor.rules_config import load_rules
from bot.settings import Settings


def bench(strategy: str, repeat: int) -> None:
    settings, rules = Settings(strategy={"active": [strategy]}), load_rules()
    best, load = float("inf"), 0.0
    stats = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        bot = build_bot(settings, rules, "sim")
        t1 = time.perf_counter()
        stats = asyncio.run(bot.executor.run())
        t2 = time.perf_counter()
        best, load = min(best, t2 - t1), t1 - t0
    assert stats is not None
    print(
        f"{strategy}: {stats.snapshots:,} snapshots, {stats.ticks:,} ticks, {stats.orders_sent} orders, "
        f"{stats.fills} fills | load {load * 1000:.0f} ms | run {best * 1000:.0f} ms (best of {repeat}) -> "
        f"{stats.snapshots / best:,.0f} snapshots/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--strategy", default="all", choices=("s1", "s2", "s3", "all"))
    args = ap.parse_args()
    logs.configure("error", "json")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name in ("s1", "s2", "s3") if args.strategy == "all" else (args.strategy,):
        bench(name, args.repeat)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
