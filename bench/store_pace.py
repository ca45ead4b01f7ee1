"""Does the store keep pace? Two figures (issue 13):

1. ``carrybot run --pace 0`` on the bundled data, with the store (SQLite, a fresh data directory, the paper venues'
   journals, the ops HTTP server) and with ``--no-store``: wall and CPU seconds of the whole command, and of its
   tick loop alone (the report's ``timing.wall_secs``). Target: store on within 1.5x of ``--no-store``.
2. The cost of committing one tick on its own — what a live bot pays every tick: one transaction with the tick's
   equity point, a decision now and then, changed positions, the governor's state and the cursor. Target: p50
   <= 2 ms on SQLite (``--pg-url`` adds a PostgreSQL row).

    python bench/store_pace.py [--repeats 7] [--ticks 1000] [--pg-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bot.store.repository import Store, TickRecords, sqlite_url

ROOT = Path(__file__).resolve().parent.parent


def run_once(no_store: bool) -> tuple[float, float, float]:
    """(wall, cpu, tick-loop wall) seconds of one ``carrybot run --pace 0`` in a fresh directory."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = os.environ | {
            "CARRYBOT_DATA_DIR": str(Path(tmp) / "var"),
            "CARRYBOT_LOG__LEVEL": "error",
            "CARRYBOT_TELEMETRY__PORT": "0",
        }
        argv = [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))",
            "run",
            "--pace",
            "0",
            "--json",
            str(report),
        ]
        if no_store:
            argv.append("--no-store")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        data = json.loads(report.read_text())
        if not no_store:
            st = data["store"]
            print(
                f"    store: {st['commits']} tick transactions for {st['ticks_committed']} ticks, "
                f"healthy={st['healthy']}, backlog={st['backlog']}"
            )
        return wall, cpu, float(data["timing"]["wall_secs"])


def tick_records(k: int, run_id: int, ts_ns: int) -> TickRecords:
    rec = TickRecords(cursor_ns=ts_ns)
    rec.equity.append({"run_id": run_id, "ts_ns": ts_ns, "equity": Decimal("100000.12345678") + k})
    if k % 10 == 0:
        rec.decisions.append(
            {
                "run_id": run_id,
                "decision_id": f"d{k}",
                "intent_id": f"i{k}",
                "ts_ns": ts_ns,
                "origin": "strategy",
                "purpose": "entry",
                "outcome": "approve",
                "scale": 1.0,
                "state": "normal",
                "risk_reducing": False,
                "rules": "G1,G2",
                "unavailable": "",
                "hits": [
                    {"rule": "G1", "code": "scaled", "max_scale": 0.8, "inputs": {"realized_vol": 0.61, "cap": 3.0}}
                ],
            }
        )
        for inst in ("binance:BTC/USDT", "binance:BTC/USDT:USDT"):
            rec.positions.append(
                {
                    "run_id": run_id,
                    "instrument_id": inst,
                    "qty": Decimal(k) / 1000,
                    "avg_cost": Decimal("64000.5"),
                    "ts_ns": ts_ns,
                }
            )
        rec.governor_state = {"state": "normal", "ladder": {"BTC": {"stage": 0}}, "k": k}
    return rec


async def commit_latency(url: str, ticks: int) -> list[float]:
    store = Store(url)
    await store.upgrade()
    run = await store.open_run(f"bench:{time.time_ns()}", "paper", {}, "bench", "bench", time.time_ns())
    out = []
    ts = 1_704_067_200 * 10**9
    for k in range(ticks):
        rec = tick_records(k, run.id, ts + k * 60 * 10**9)
        t0 = time.perf_counter()
        await store.commit_tick(run.id, rec, ts)
        out.append((time.perf_counter() - t0) * 1000)
    await store.close()
    return out


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--pg-url", default=None)
    args = ap.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}"
    )

    print("1. carrybot run --pace 0 on the bundled data (median of", args.repeats, "alternating runs)")
    runs: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for _ in range(args.repeats):
        for no_store in (True, False):
            runs[no_store].append(run_once(no_store))
    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in runs.items()}
    for no_store, label in ((True, "--no-store"), (False, "store on")):
        w, c, loop = med[no_store]
        print(f"   {label:11s} command {w:6.2f} s wall {c:6.2f} s cpu   tick loop {loop:6.2f} s")
    print(
        f"   ratio store/no-store: command {med[False][0] / med[True][0]:.2f}x wall, "
        f"{med[False][1] / med[True][1]:.2f}x cpu; tick loop {med[False][2] / med[True][2]:.2f}x   (target <= 1.5x)"
    )
    pairs = sorted(s[1] / n[1] for s, n in zip(runs[False], runs[True], strict=True))
    print(
        f"   cpu ratio of each alternating pair: median {statistics.median(pairs):.2f}x, "
        f"from {pairs[0]:.2f}x to {pairs[-1]:.2f}x (a shared machine: compare medians)"
    )

    print(f"2. one tick committed on its own ({args.ticks} ticks)")
    urls: list[tuple[str, str]] = []
    tmp = tempfile.TemporaryDirectory()
    urls.append(("sqlite", sqlite_url(Path(tmp.name))))
    if args.pg_url:
        urls.append(("postgresql", args.pg_url))
    for label, url in urls:
        lat = asyncio.run(commit_latency(url, args.ticks))
        print(
            f"   {label:10s} p50 {pct(lat, 0.5):6.2f} ms  p90 {pct(lat, 0.9):6.2f} ms  p99 {pct(lat, 0.99):6.2f} ms"
            + ("   (target p50 <= 2 ms)" if label == "sqlite" else "")
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
