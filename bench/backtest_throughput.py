"""Snapshots per second through the whole path (replay feed → strategy → governor → paper venue → ledger) on the
bundled data, simulated clock, one core. Prints figures; asserts nothing.

    python bench/backtest_throughput.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import time

from bot.app import build_bot
from bot.governor.rules_config import load_rules
from bot.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("CARRYBOT_LOG__LEVEL", "error")
    from bot import logs

    logs.configure("error", "json")
    settings, rules = Settings(), load_rules()
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        bot = build_bot(settings, rules, "sim")
        t1 = time.perf_counter()
        stats = asyncio.run(bot.executor.run())
        t2 = time.perf_counter()
        best = min(best, t2 - t1)
        load = t1 - t0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"snapshots: {stats.snapshots}  ticks: {stats.ticks}  orders: {stats.orders_sent}  fills: {stats.fills}")
    print(f"load + build: {load * 1000:.1f} ms")
    print(f"run (best of {args.repeat}): {best * 1000:.1f} ms  ->  {stats.snapshots / best:,.0f} snapshots/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
