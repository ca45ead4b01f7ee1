"""Live crash harness (issue 15): ``carrybot run --mode live`` on the venue emulator, SIGKILLed at random moments.

Each trial starts a fresh emulator process (its own seed: its own prices), runs 1–2 bot lives that are each killed
with SIGKILL at a moment uniform over their first 20 s (start-up, recovery, resting entries, fills, hedges, funding
polls), then a last life that closes the carry when funding turns and stops with SIGTERM. The market trades through
any resting post-only bid, so kills land among orders, fills and settlements. Then, from the venue's own records and
the store alone, it checks: no client order id submitted twice (from the venue's journal of every submission), every
venue trade booked once, every funding payment booked (those made while no bot ran included), positions flat at
both, and the ledger's equity equal to the venue's wallets exactly.

    python -m tests.crash.live_harness --trials 20 [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.emulator.live_run import EmulatorProcess, close_and_stop, problems, start_bot, until


def trial(rng: random.Random, tmp: Path, max_kills: int = 2) -> tuple[list[str], str]:
    venue = EmulatorProcess(tmp, seed=rng.randrange(1 << 30))
    bot: subprocess.Popen[str] | None = None
    kills = rng.randint(1, max_kills)
    try:
        for life in range(1, kills + 1):
            bot = start_bot(tmp, venue.url, life)
            out = tmp / f"bot{life}.out"
            if rng.random() < 0.2:  # during start-up: account checks, recovery, the first reads
                kill_at = time.monotonic() + rng.uniform(0.5, 6.0)
            else:  # while trading: resting bids, fills, hedges, funding polls, commits
                until(f"life {life} trading", lambda out=out: "LIVE orders" in out.read_text(), 90)
                kill_at = time.monotonic() + rng.uniform(0.0, 15.0)
            while time.monotonic() < kill_at and bot.poll() is None:
                venue.fill_resting_bids()
                time.sleep(0.2)
            bot.send_signal(signal.SIGKILL)
            bot.wait(10)
        bot = start_bot(tmp, venue.url, kills + 1)
        last = tmp / f"bot{kills + 1}.out"
        until("the last life's start", lambda: "LIVE orders" in last.read_text(), 90)
        until("a carry held", lambda: venue.state()["positions"], 90, every=venue.fill_resting_bids)
        end = time.monotonic() + rng.uniform(0.0, 3.0)  # held through a settlement or two before funding turns
        while time.monotonic() < end:
            venue.fill_resting_bids()
            time.sleep(0.2)
        close_and_stop(venue, bot)
        found = [] if bot.returncode == 0 else [f"last life exited {bot.returncode}"]
        state = venue.state()
        found += problems(state, tmp / "var" / "carrybot.db")
        orders = len(state["submissions"])
        return found, f"{kills} kills, {orders} orders, {state['trades']} fills, {len(state['funding'])} funding"
    except AssertionError as exc:
        return [str(exc)], f"{kills} kills"
    finally:
        if bot is not None and bot.poll() is None:
            bot.kill()
            bot.wait(10)
        venue.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.crash.live_harness", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep each trial's directory (logs, store)")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    failed = 0
    t0 = time.monotonic()
    for n in range(1, args.trials + 1):
        tmp = Path(tempfile.mkdtemp(prefix=f"live-crash-{n}-"))
        found, summary = trial(rng, tmp)
        failed += bool(found)
        verdict = "ok" if not found else "FAILED " + "; ".join(found)
        where = f" ({tmp})" if found or args.keep else ""
        print(f"trial {n:3}: {summary}: {verdict}{where}", flush=True)
    print(f"{args.trials} live trials, {failed} failed, {time.monotonic() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
