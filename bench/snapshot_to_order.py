"""Snapshot-to-order latency in paper mode: wall time from the moment a batch of snapshots reaches the executor to
the moment an order it caused is handed to the paper venue (strategy → governor decision → order → gateway), for
every order of the bundled-data backtests of S1, S2 and S3. Prints percentiles; asserts nothing.

    python bench/snapshot_to_order.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

from bot import logs
from bot.assembly import build_bot
from bot.governor.rules_config import load_rules
from bot.settings import Settings


def run(strategy: str) -> list[float]:
    settings = Settings(_env_file=None, strategy={"active": [strategy]})
    bot = build_bot(settings, load_rules(None), "sim")
    ex = bot.executor
    tick_start = [0.0]
    lat: list[float] = []
    step = ex.step

    async def timed_step(batch):  # type: ignore[no-untyped-def]
        tick_start[0] = time.perf_counter()
        await step(batch)

    ex.step = timed_step  # type: ignore[method-assign]
    for venue in bot.venues.values():
        submit = venue.submit

        async def timed_submit(order, _submit=submit):  # type: ignore[no-untyped-def]
            lat.append(time.perf_counter() - tick_start[0])
            return await _submit(order)

        venue.submit = timed_submit  # type: ignore[method-assign]
    asyncio.run(ex.run())
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logs.configure("error", "json")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    allv: list[float] = []
    for strategy in ("s1", "s2", "s3"):
        lat = [x for _ in range(args.repeat) for x in run(strategy)]
        allv += lat
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
        print(
            f"{strategy}: {len(lat)} orders | p50 {q[49] * 1e6:,.0f} µs  p99 {q[98] * 1e6:,.0f} µs  "
            f"max {max(lat) * 1e6:,.0f} µs"
        )
    q = statistics.quantiles(allv, n=100)
    print(f"all: {len(allv)} orders | snapshot-to-order p50 {q[49] * 1e6:,.0f} µs, p99 {q[98] * 1e6:,.0f} µs")


if __name__ == "__main__":
    main()
