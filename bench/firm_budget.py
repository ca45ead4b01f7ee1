"""The firm budget under contention: what a reservation costs an entry, and how the budget holds.

    python -m bench.firm_budget --pg-url postgresql+asyncpg://user:password@host/db [--instances 1,4,8] [--n 200]

For each number of instances (each its own engine and connections, in one process), every instance reserves ``n``
entries of random size against a budget a few entries wide, reports a fill of each and ends it — reserve, report,
report, as the executor does — while one more connection reads the firm's totals all along. Prints the reservation
round trip (p50/p99, ms), reservations and refusals per second, and the largest gross and |net| the reader saw
against the caps. Uses a new database on the server (created and left for inspection). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from bot.firm.budget import FirmBudget
from bot.governor.rules_config import FirmConfig
from bot.store.repository import Store
from tests.firm.race import Churn  # the same entry loop the race tests run

CFG = FirmConfig(max_gross_asset_usd=400_000, max_net_asset_usd=30_000, max_orders_per_minute=1_000_000)
TOTALS = (
    "SELECT COALESCE(SUM(g), 0), COALESCE(SUM(n), 0) FROM ("
    " SELECT gross_usd AS g, net_usd AS n FROM firm_exposure WHERE firm = :f AND asset = 'BTC'"
    " UNION ALL SELECT remaining_gross_usd, remaining_net_usd FROM firm_reservations"
    " WHERE firm = :f AND asset = 'BTC' AND status = 'active') x"
)


async def new_database(url: str) -> str:
    import asyncpg

    name = f"cb_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


async def instance(url: str, firm: str, n_bot: int, n: int, lat: list[float], counts: dict[str, int]) -> None:
    me = FirmBudget(url, firm, f"bot{n_bot}", CFG)
    await me.join()
    churn = Churn(me, n_bot)
    try:
        for i in range(n):
            await churn.entry(f"{n_bot}-{i}")
    finally:
        await me.leave()
        await me.close()
    lat.extend(churn.latencies)
    counts["reserved"] += churn.reserved
    counts["refused"] += churn.refused


async def one(url: str, k: int, n: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    firm = f"bench{k}"
    lat: list[float] = []
    counts = {"reserved": 0, "refused": 0}
    seen: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def reader() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            while not stop.is_set():
                g, net = (await conn.execute(text(TOTALS), {"f": firm})).one()
                await conn.commit()
                seen.append((float(g), float(net)))
        await engine.dispose()

    watch = asyncio.create_task(reader())
    t0 = time.perf_counter()
    await asyncio.gather(*(instance(url, firm, b, n, lat, counts) for b in range(k)))
    wall = time.perf_counter() - t0
    stop.set()
    await watch
    q = statistics.quantiles(lat, n=100)
    print(
        f"{k} instance(s): reserve p50 {q[49] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms; "
        f"{counts['reserved'] / wall:.0f} reservations/s, {counts['refused'] / wall:.0f} refusals/s; "
        f"reader saw {len(seen)} states, gross max {max(g for g, _ in seen):,.0f} "
        f"(cap {CFG.max_gross_asset_usd:,.0f}), "
        f"|net| max {max(abs(x) for _, x in seen):,.0f} (cap {CFG.max_net_asset_usd:,.0f})"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--instances", default="1,4,8")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    url = await new_database(args.pg_url)
    await Store(url).upgrade()
    for k in (int(x) for x in args.instances.split(",")):
        await one(url, k, args.n)


if __name__ == "__main__":
    asyncio.run(main())
