"""One instance in the firm-budget race (tests/firm/test_race.py), as its own process.

    python -m tests.firm.race URL BOT_ID SEED STOP_FILE [--victim]

A racer reserves entries of random size against the budget, reports fills (part of each reservation becomes held
exposure), closes positions now and then, until ``STOP_FILE`` exists; it prints ``reserved``/``refused`` lines. The
victim reserves one large entry, prints ``holding``, and keeps renewing its lease while the entry "works", until it
is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from bot.decisions import DenyCode
from bot.firm.budget import FirmBudget
from bot.firm.limits import FirmShare
from bot.governor.rules_config import FirmConfig

CFG = FirmConfig(max_gross_asset_usd=400_000, max_net_asset_usd=30_000, max_orders_per_minute=1_000_000, lease_secs=2)


def btc(gross: float, net: float = 0.0, orders: int = 2) -> FirmShare:
    return FirmShare({"BTC": gross}, {"BTC": net}, orders)


class Churn:
    """One instance trading against the firm budget as the executor does, as fast as it can: reserve an entry of
    random size; when it is refused, now and then close what it holds so that others get room; when it is reserved,
    report a part filled (held now, the rest still reserved), then end it with the rest filled or cancelled. Counts
    what happened and times every reservation."""

    def __init__(self, me: FirmBudget, seed: int, max_gross: float = 100_000.0, max_net: float = 10_000.0) -> None:
        self.me, self.rng, self.max_gross, self.max_net = me, random.Random(seed), max_gross, max_net
        self.held = 0.0
        self.reserved = self.refused = 0
        self.latencies: list[float] = []

    async def entry(self, decision_id: str) -> DenyCode | None:
        rng, me = self.rng, self.me
        gross, net = rng.uniform(20_000, self.max_gross), rng.uniform(-self.max_net, self.max_net)
        t0 = time.perf_counter()
        hit, _ = await me.reserve(decision_id, btc(gross, net))
        self.latencies.append(time.perf_counter() - t0)
        if hit is not None:
            self.refused += 1
            if self.held and rng.random() < 0.5:
                self.held = 0.0
                await me.report({}, 1.0, 1.0, {}, {})
            return hit.code
        self.reserved += 1
        part = rng.random()
        self.held += gross * part
        await me.report({"BTC": (self.held, 0.0)}, 1.0, 1.0, {decision_id: btc(gross * (1 - part))}, {})
        if rng.random() < 0.5:
            self.held += gross * (1 - part)
        await me.report({"BTC": (self.held, 0.0)}, 1.0, 1.0, {}, {decision_id: True})
        return None


async def racer(url: str, bot_id: str, seed: int, stop: Path) -> None:
    me = FirmBudget(url, "race", bot_id, CFG)
    await me.join()
    churn, i = Churn(me, seed), 0
    try:
        while not stop.exists():
            i += 1
            code = await churn.entry(f"{bot_id}-{i}")
            print("reserved" if code is None else f"refused {code.value}", flush=True)
    finally:
        await me.leave()
        await me.close()


async def victim(url: str, bot_id: str) -> None:
    me = FirmBudget(url, "race", bot_id, CFG)
    await me.join()
    while True:
        hit, _ = await me.reserve(f"{bot_id}-big", btc(150_000.0))
        if hit is None:
            break
    print("holding", flush=True)
    while True:  # the entry works; the lease is renewed until the process is killed
        await me.report({}, 1.0, 1.0, {f"{bot_id}-big": btc(150_000.0)}, {})
        await asyncio.sleep(0.2)


def main() -> None:
    url, bot_id, seed, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    if "--victim" in sys.argv:
        asyncio.run(victim(url, bot_id))
    else:
        asyncio.run(racer(url, bot_id, seed, stop))


if __name__ == "__main__":
    main()
