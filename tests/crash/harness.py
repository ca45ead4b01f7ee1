"""Crash harness (issue: persistence and crash safety).

Runs ``carrybot run`` in a subprocess on a short window of the bundled replay, kills it with SIGKILL at random
moments, restarts it on the same data directory until the run finishes, then checks — independently of the bot's
own bookkeeping, straight from the two databases — that:

- no client order id was ever submitted twice to a venue;
- no fill was lost (every trade in the venues' journals is in the bot's store);
- the bot's positions equal the venues';
- the ledger balances: the venues' equity change equals the sum of the ledger parts rebuilt from the store.

    python -m tests.crash.harness --trials 200 [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.domain import Fill, FundingPayment, Liquidity, Side
from bot.ledger import Ledger

# a short window with a strategy tuned to churn, so that kills land among orders, fills and funding
WINDOW = {"CARRYBOT_REPLAY__START": "2024-02-01", "CARRYBOT_REPLAY__END": "2024-04-01",
          "CARRYBOT_LOG__LEVEL": "error", "CARRYBOT_LOG__FORMAT": "json",
          "CARRYBOT_STRATEGY__S1__FUNDING_LOOKBACK_PERIODS": "1", "CARRYBOT_STRATEGY__S1__PERSISTENCE_PERIODS": "1",
          "CARRYBOT_STRATEGY__S1__ENTRY_THRESHOLD_APR": "0.12", "CARRYBOT_STRATEGY__S1__EXIT_THRESHOLD_APR": "0.11",
          "CARRYBOT_STRATEGY__S1__HOLDING_DAYS": "365"}
PACE_SECS = "1.5"


@dataclass
class TrialResult:
    kills: int = 0
    restarts: int = 0
    problems: list[str] = field(default_factory=list)
    fills: int = 0
    orders: int = 0


def _run_once(data_dir: Path, kill_after: float | None) -> tuple[bool, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | WINDOW | {
        "CARRYBOT_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--pace", PACE_SECS, "--json",
                             str(data_dir / "report.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=data_dir)
    try:
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return False, "killed"
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        return False, f"exit {proc.returncode}: {err.decode()[-2000:]}"
    return True, out.decode()


def check(data_dir: Path) -> tuple[list[str], int, int]:
    """Compare the bot's store with the venues' journals; returns (problems, fills, orders)."""
    problems: list[str] = []
    store = sqlite3.connect(data_dir / "carrybot.db")
    (journal_path,) = (data_dir / "paper").glob("*.db")
    journal = sqlite3.connect(journal_path)
    run_id, status = store.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if status != "finished":
        problems.append(f"run not finished: {status}")
    venues = {}
    for venue, body in journal.execute("SELECT venue, body FROM state"):
        venues[venue] = json.loads(body)
        if venues[venue]["duplicate_submissions"]:
            problems.append(f"{venue}: {venues[venue]['duplicate_submissions']} duplicate submissions")
    venue_trades = {}
    venue_funding = []
    for venue, kind, body in journal.execute("SELECT venue, kind, body FROM events ORDER BY seq"):
        d = json.loads(body)
        if kind == "fill":
            venue_trades[(venue, d["trade_id"])] = d
        elif kind == "funding":
            venue_funding.append(d)
    store_trades = {(v, t): (cid, ts) for v, t, cid, ts in store.execute(
        "SELECT venue, trade_id, client_order_id, ts_ns FROM fills WHERE run_id = ?", (run_id,))}
    lost = set(venue_trades) - set(store_trades)
    if lost:
        problems.append(f"fills lost: {sorted(lost)[:5]}")
    ghost = set(store_trades) - set(venue_trades)
    if ghost:
        problems.append(f"fills the venue never made: {sorted(ghost)[:5]}")
    n_funding = store.execute("SELECT COUNT(*) FROM funding_payments WHERE run_id = ?", (run_id,)).fetchone()[0]
    if n_funding != len(venue_funding):
        problems.append(f"funding payments: store {n_funding}, venue {len(venue_funding)}")

    # rebuild the ledger from the store alone and compare with the venues' accounts
    refs = {cid: (Decimal(m), Decimal(t)) for cid, m, t in store.execute(
        "SELECT client_order_id, ref_mid, ref_touch FROM orders WHERE run_id = ?", (run_id,))}
    initial = sum(Decimal("100000") for _ in venues)
    ledger = Ledger(initial)
    rows = []
    for r in store.execute("SELECT venue, trade_id, client_order_id, instrument_id, side, qty, price, fee, liquidity, "
                           "ts_ns, is_liquidation, is_settlement FROM fills WHERE run_id = ?", (run_id,)):
        f = Fill(r[0], r[1], r[2], r[3], Side(r[4]), Decimal(str(r[5])), Decimal(str(r[6])), Decimal(str(r[7])),
                 Liquidity(r[8]), r[9], bool(r[10]), bool(r[11]))
        rows.append((f.ts_ns, 0, f))
    for r in store.execute("SELECT venue, instrument_id, ts_ns, rate, position_qty, mark, amount FROM funding_payments "
                           "WHERE run_id = ?", (run_id,)):
        rows.append((r[2], 1, FundingPayment(r[0], r[1], r[2], *(Decimal(str(x)) for x in r[3:]))))
    for _, _, ev in sorted(rows, key=lambda e: (e[0], e[1])):
        if isinstance(ev, Fill):
            mid, touch = refs.get(ev.client_order_id, (ev.price, ev.price))
            ledger.apply_fill(ev, mid, touch)
        else:
            ledger.apply_funding(ev)
    marks: dict[str, Decimal] = {}
    venue_equity = Decimal(0)
    venue_pos: dict[str, Decimal] = defaultdict(Decimal)
    for v in venues.values():
        books = {b["instrument_id"]: Decimal(repr(b["mark"])) for b in v["books"]}
        marks.update(books)
        eq = Decimal(v["cash"])
        for iid, q in v["holdings"].items():
            eq += Decimal(q) * books[iid]
            venue_pos[iid] += Decimal(q)
        for iid, (q, entry, _lev) in v["perps"].items():
            eq += Decimal(q) * (books[iid] - Decimal(entry))
            venue_pos[iid] += Decimal(q)
        venue_equity += eq
    ours = {k: b.qty for k, b in ledger.legs.items() if b.qty}
    theirs = {k: q for k, q in venue_pos.items() if q}
    if ours != theirs:
        problems.append(f"positions differ: bot {ours} venue {theirs}")
    residual = (venue_equity - initial) - ledger.parts(marks).total
    if abs(residual) > Decimal("1e-9"):
        problems.append(f"ledger does not balance: residual {residual}")
    db_positions = {k: Decimal(str(q)) for k, q in store.execute(
        "SELECT instrument_id, qty FROM positions WHERE run_id = ?", (run_id,)) if Decimal(str(q))}
    if db_positions != theirs:
        problems.append(f"stored positions {db_positions} differ from the venue's {theirs}")
    n_orders = store.execute("SELECT COUNT(*) FROM orders WHERE run_id = ?", (run_id,)).fetchone()[0]
    return problems, len(store_trades), n_orders


def trial(rng: random.Random, max_kills: int = 3) -> TrialResult:
    res = TrialResult()
    with tempfile.TemporaryDirectory(prefix="carrybot-crash-") as tmp:
        data_dir = Path(tmp)
        kills_left = rng.randint(1, max_kills)
        while True:
            kill_after = rng.uniform(0.4, 2.4) if kills_left > 0 else None
            done, msg = _run_once(data_dir, kill_after)
            if done:
                break
            if msg != "killed":
                res.problems.append(msg)
                return res
            res.kills += 1
            kills_left -= 1
            res.restarts += 1
        problems, res.fills, res.orders = check(data_dir)
        res.problems.extend(problems)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    failures = 0
    t0 = time.monotonic()
    kills = fills = orders = 0
    for i in range(args.trials):
        r = trial(rng)
        kills += r.kills
        fills += r.fills
        orders += r.orders
        status = "ok" if not r.problems else "FAIL " + "; ".join(r.problems)
        print(f"trial {i + 1:3d}: {r.kills} kills, {r.orders} orders, {r.fills} fills: {status}", flush=True)
        failures += bool(r.problems)
    print(f"{args.trials} trials, {kills} SIGKILLs, {orders} orders, {fills} fills, {failures} failed, "
          f"{time.monotonic() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
