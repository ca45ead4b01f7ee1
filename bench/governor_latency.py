"""Governor latency: microseconds per decision with the full default rule set, over varied intents.

    python bench/governor_latency.py [--n 20000]

Each decision runs every rule of rules/default.yaml (G1–G9 entry checks, with signals, leverage caps and crowding
read from a warmed-up tracker) and lands in the in-memory audit sink. Prints p50/p90/p99/max; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from decimal import Decimal

from bot.domain import (
    NS_PER_SEC,
    FundingSettlement,
    IntentLeg,
    MarketBatch,
    MarketSnapshot,
    OrderIntent,
    Origin,
    Purpose,
    Side,
)
from bot.events import DecisionMade
from bot.governor import Governor, load_rules
from bot.governor.audit import MemoryAudit
from bot.governor.context import AccountView
from bot.venues.fees import default_instruments

H8 = 8 * 3600 * NS_PER_SEC
START = 1_694_000_000 * NS_PER_SEC  # Sept 2023, away from quarterly expiries at first


def measure(n_decisions: int, seed: int) -> dict[str, object]:
    """Latency of ``n_decisions`` decisions over varied intents (µs quantiles, outcomes and rule hits)."""
    rng = random.Random(seed)
    inst = default_instruments(("binance", "bybit", "okx"), ("BTC", "ETH"))
    gov = Governor(load_rules(), inst)
    audit = MemoryAudit()
    base_px = {"BTC": 60_000.0, "ETH": 3_000.0}
    market: dict[str, MarketSnapshot] = {}
    for k in range(40):  # warm the signal windows
        ts = START + k * H8
        snaps = []
        for iid, i in inst.items():
            p = base_px[i.base] * (1 + rng.gauss(0, 0.02))
            perp = i.is_derivative
            snaps.append(
                MarketSnapshot(
                    iid,
                    ts,
                    p * 0.9999,
                    p * 1.0001,
                    p,
                    p,
                    p,
                    p * 1.01,
                    p * 0.99,
                    1.0,
                    0.0001 if perp else None,
                    None,
                    28_800 if perp else None,
                    ts + H8 if perp else None,
                    FundingSettlement(ts, 0.0001) if perp else None,
                )
            )
        batch = MarketBatch(ts, tuple(snaps))
        gov.observe(batch)
        market.update({s.instrument_id: s for s in snaps})
    now = START + 39 * H8
    ids = sorted(inst)
    positions = {iid: rng.uniform(-1, 1) * (1 if "BTC" in iid else 20) for iid in ids if rng.random() < 0.5}
    gross: dict[str, float] = {}
    for iid, q in positions.items():
        gross[inst[iid].venue] = gross.get(inst[iid].venue, 0.0) + abs(q) * market[iid].mark
    acct = AccountView(1_000_000.0, positions, gross, sum(gross.values()), 3)
    gov.on_tick(acct, market, now)
    pairs = [
        (s, p)
        for s in ids
        for p in ids
        if inst[s].venue == inst[p].venue
        and inst[s].base == inst[p].base
        and not inst[s].is_derivative
        and inst[p].is_derivative
    ]
    intents = []
    for n in range(n_decisions):
        s, p = rng.choice(pairs)
        q = Decimal(str(round(rng.uniform(0.001, 2.0 if "BTC" in s else 30.0), 3)))
        side = rng.choice((Side.BUY, Side.SELL))
        purpose = rng.choice((Purpose.ENTRY, Purpose.ENTRY, Purpose.ENTRY, Purpose.EXIT))
        intents.append(
            OrderIntent(
                f"b{n}",
                Origin.STRATEGY,
                "bench",
                purpose,
                (IntentLeg(s, side, q), IntentLeg(p, side.opposite, q, leverage=rng.randint(1, 5))),
                now,
                edge_apr=rng.uniform(0.0, 0.3),
            )
        )
    gov._recent.clear()
    lat = []
    clock = time.perf_counter_ns
    reads = gov.reads_at(market, now)  # read once per tick, as the executor does
    for intent in intents:
        t0 = clock()
        audit.handle(DecisionMade(gov.decide(intent, acct, market, now, reads), 0.0))
        lat.append((clock() - t0) / 1000)
        gov._recent.clear()  # keep the order-rate limit from turning the run into a run of rejections
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    return {
        "p50": q[49],
        "p90": q[89],
        "p99": q[98],
        "max": lat[-1],
        "mean": statistics.fmean(lat),
        "n": len(lat),
        "outcomes": dict(audit.by_outcome),
        "hits": dict(audit.by_code.most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    r = measure(args.n, args.seed)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(f"decisions: {r['n']:,}  outcomes: {r['outcomes']}")
    print(f"rule hits: {r['hits']}")
    print(
        f"latency µs  p50 {r['p50']:.2f}  p90 {r['p90']:.2f}  p99 {r['p99']:.2f}  max {r['max']:.1f}  "
        f"mean {r['mean']:.2f}"
    )


if __name__ == "__main__":
    main()
