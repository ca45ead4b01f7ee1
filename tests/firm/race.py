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
from pathlib import Path

from bot.firm.budget import FirmBudget
from bot.firm.limits import FirmShare
from bot.governor.rules_config import FirmConfig

CFG = FirmConfig(max_gross_asset_usd=400_000, max_net_asset_usd=30_000, max_orders_per_minute=1_000_000, lease_secs=2)


def _btc(gross: float, net: float = 0.0) -> FirmShare:
    return FirmShare({"BTC": gross}, {"BTC": net}, 2)


async def racer(url: str, bot_id: str, seed: int, stop: Path) -> None:
    rng = random.Random(seed)
    me = FirmBudget(url, "race", bot_id, CFG)
    await me.join()
    held, i = 0.0, 0
    try:
        while not stop.exists():
            i += 1
            gross, net = rng.uniform(20_000, 100_000), rng.uniform(-10_000, 10_000)
            hit, _ = await me.reserve(f"{bot_id}-{i}", _btc(gross, net))
            if hit is not None:
                print(f"refused {hit.code.value}", flush=True)
                if held and rng.random() < 0.5:
                    held = 0.0
                await me.report({"BTC": (held, 0.0)} if held else {}, 1.0, 1.0, {}, {})
                continue
            print("reserved", flush=True)
            part = rng.random()
            held += gross * part
            await me.report({"BTC": (held, 0.0)}, 1.0, 1.0, {f"{bot_id}-{i}": _btc(gross * (1 - part))}, {})
            if rng.random() < 0.5:
                held += gross * (1 - part)
            await me.report({"BTC": (held, 0.0)}, 1.0, 1.0, {}, {f"{bot_id}-{i}": True})
    finally:
        await me.leave()
        await me.close()


async def victim(url: str, bot_id: str) -> None:
    me = FirmBudget(url, "race", bot_id, CFG)
    await me.join()
    while True:
        hit, _ = await me.reserve(f"{bot_id}-big", _btc(150_000.0))
        if hit is None:
            break
    print("holding", flush=True)
    while True:  # the entry works; the lease is renewed until the process is killed
        await me.report({}, 1.0, 1.0, {f"{bot_id}-big": _btc(150_000.0)}, {})
        await asyncio.sleep(0.2)


def main() -> None:
    url, bot_id, seed, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    if "--victim" in sys.argv:
        asyncio.run(victim(url, bot_id))
    else:
        asyncio.run(racer(url, bot_id, seed, stop))


if __name__ == "__main__":
    main()
