"""Crash harness (issues: persistence and crash safety; fail safe).

Runs ``carrybot run`` in a subprocess on a short window of the bundled replay, kills it with SIGKILL at moments
spread uniformly over the whole run (a calibration run without kills measures how long a run lasts, and when its
first order reaches the venue), restarts it on the same data directory and store until the run finishes, then
checks — independently of the bot's own bookkeeping, from the venues' journals and the store — that:

- no client order id reached a venue twice, and no intent's leg was sent again under a new client id (from the
  venue's record of every submission, not a counter);
- no fill and no funding payment was lost, and the store holds none the venue never made;
- the bot's positions (rebuilt from its stored fills, and as stored) equal the venues';
- the ledger balances: the venues' equity change equals the sum of the ledger parts rebuilt from the store.

SQLite (a file in the trial's directory) or PostgreSQL (``--pg-url``: one bot id per trial on a shared database).
Each life has its own metrics port (any free one). Each kill is reported as before or after the first order, and
(SQLite) whether a store transaction was open at that instant.

    python -m tests.crash.harness --trials 200 [--seed 1] [--pg-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.domain import Fill, FundingPayment, Liquidity, Side
from bot.ledger import Ledger

# a short window with a strategy tuned to churn, so that kills land among orders, fills and funding
WINDOW = {
    "CARRYBOT_REPLAY__START": "2024-02-01",
    "CARRYBOT_REPLAY__END": "2024-04-01",
    "CARRYBOT_LOG__LEVEL": "error",
    "CARRYBOT_LOG__FORMAT": "json",
    "CARRYBOT_TELEMETRY__PORT": "0",
    "CARRYBOT_STRATEGY__S1__FUNDING_LOOKBACK_PERIODS": "1",
    "CARRYBOT_STRATEGY__S1__PERSISTENCE_PERIODS": "1",
    "CARRYBOT_STRATEGY__S1__ENTRY_THRESHOLD_APR": "0.12",
    "CARRYBOT_STRATEGY__S1__EXIT_THRESHOLD_APR": "0.11",
    "CARRYBOT_STRATEGY__S1__HOLDING_DAYS": "365",
}
PACE_SECS = "1.5"


@dataclass
class Life:
    """What one calibration run measured: wall seconds to the end, and to the first order at a venue."""

    total: float
    first_order: float


@dataclass
class TrialResult:
    kills: int = 0
    kills_after_first_order: int = 0
    kills_in_commit: int = 0
    restarts: int = 0
    problems: list[str] = field(default_factory=list)
    fills: int = 0
    orders: int = 0
    funding: int = 0


@dataclass
class Target:
    data_dir: Path
    pg_url: str | None = None
    bot_id: str = "crash"

    def env(self) -> dict[str, str]:
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}
            | WINDOW
            | {"CARRYBOT_DATA_DIR": str(self.data_dir), "CARRYBOT_BOT_ID": self.bot_id}
        )
        if self.pg_url:
            env["CARRYBOT_DB__URL"] = self.pg_url
        return env

    @property
    def store_url(self) -> str:
        return self.pg_url or f"sqlite+aiosqlite:///{(self.data_dir / 'carrybot.db').resolve()}"


def _journals(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "paper").glob("*.db")) if (data_dir / "paper").is_dir() else []


def _submitted(data_dir: Path) -> bool:
    for path in _journals(data_dir):
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            try:
                if db.execute("SELECT 1 FROM events WHERE kind = 'submission' LIMIT 1").fetchone():
                    return True
            finally:
                db.close()
        except sqlite3.Error:
            continue
    return False


def _life(target: Target, kill_after: float | None, res: TrialResult | None = None) -> tuple[bool, str, Life]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--pace", PACE_SECS, "--json", str(target.data_dir / "report.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=target.env(),
        cwd=target.data_dir,
    )
    first = -1.0
    try:
        deadline = t0 + (kill_after if kill_after is not None else 600.0)
        while proc.poll() is None and time.monotonic() < deadline:
            if first < 0 and _submitted(target.data_dir):
                first = time.monotonic() - t0
            time.sleep(0.05)
        if proc.poll() is None and kill_after is not None:
            in_commit = (target.data_dir / "carrybot.db-journal").exists()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if res is not None:
                res.kills += 1
                res.kills_after_first_order += _submitted(target.data_dir)
                res.kills_in_commit += in_commit
            return False, "killed", Life(time.monotonic() - t0, first)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    life = Life(time.monotonic() - t0, first)
    if proc.returncode != 0:
        return False, f"exit {proc.returncode}: {err.decode()[-2000:]}", life
    return True, out.decode(), life


async def _store_rows(url: str, bot_id: str) -> dict[str, object]:
    from bot.store import Store

    store = Store(url)
    try:
        runs = [r for r in await store.runs() if r.run_key.startswith(f"{bot_id}:")]
        if not runs:
            return {"run": None}
        run = runs[-1]
        return {
            "run": run,
            "fills": await store.fills(run.id),
            "funding": await store.funding(run.id),
            "orders": await store.orders(run.id),
            "positions": await store.positions(run.id),
        }
    finally:
        await store.close()


def _finished_run(target: Target) -> object | None:
    """The bot's run if the store already records it as finished (None before the schema or the run exists)."""
    if target.pg_url is None and not (target.data_dir / "carrybot.db").exists():
        return None
    try:
        run = asyncio.run(_store_rows(target.store_url, target.bot_id))["run"]
    except Exception:  # noqa: BLE001 - killed before the store had its schema: not finished
        return None
    return run if run is not None and run.status == "finished" else None  # type: ignore[attr-defined]


def check(target: Target) -> tuple[list[str], int, int, int]:
    """Compare the bot's store with the venues' journals; returns (problems, fills, orders, funding payments)."""
    problems: list[str] = []
    rows = asyncio.run(_store_rows(target.store_url, target.bot_id))
    run = rows["run"]
    if run is None:
        return ["no run in the store"], 0, 0, 0
    if run.status != "finished":  # type: ignore[attr-defined]
        problems.append(f"run not finished: {run.status}")  # type: ignore[attr-defined]
    venues: dict[str, dict] = {}
    venue_trades: dict[tuple[str, str], dict] = {}
    venue_funding: set[tuple[str, str, int]] = set()
    submissions: list[dict] = []
    for path in _journals(target.data_dir):
        journal = sqlite3.connect(path)
        for venue, body in journal.execute("SELECT venue, body FROM state"):
            venues[venue] = json.loads(body)
        for venue, kind, body in journal.execute("SELECT venue, kind, body FROM events ORDER BY seq"):
            d = json.loads(body)
            if kind == "fill":
                venue_trades[(venue, d["trade_id"])] = d
            elif kind == "funding":
                venue_funding.add((venue, d["instrument_id"], d["ts_ns"]))
            elif kind == "submission":
                submissions.append(d)
        journal.close()
    # duplicates, from the venue's record of every order it received
    by_cid = Counter(s["client_order_id"] for s in submissions)
    dup = sorted(c for c, n in by_cid.items() if n > 1)
    if dup:
        problems.append(f"client order ids submitted twice: {dup[:5]}")
    by_leg: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in submissions:
        by_leg[(s["intent_id"], s["instrument_id"])].add(s["client_order_id"])
    resent = sorted(k for k, cids in by_leg.items() if len(cids) > 1)
    if resent:
        problems.append(f"intents re-sent under new client ids: {resent[:5]}")

    fills = rows["fills"]
    store_trades = {(f.venue, f.trade_id) for f in fills}  # type: ignore[attr-defined, union-attr]
    lost = set(venue_trades) - store_trades
    if lost:
        problems.append(f"fills lost: {sorted(lost)[:5]}")
    ghost = store_trades - set(venue_trades)
    if ghost:
        problems.append(f"fills the venue never made: {sorted(ghost)[:5]}")
    store_funding = {(p.venue, p.instrument_id, p.ts_ns) for p in rows["funding"]}  # type: ignore[union-attr]
    if venue_funding - store_funding:
        problems.append(f"funding payments lost: {sorted(venue_funding - store_funding)[:5]}")
    if store_funding - venue_funding:
        problems.append(f"funding payments the venue never made: {sorted(store_funding - venue_funding)[:5]}")

    # rebuild the ledger from the store alone and compare with the venues' accounts
    refs = {o.client_order_id: (o.ref_mid, o.ref_touch) for o in rows["orders"]}  # type: ignore[union-attr]
    initial = sum(Decimal("100000") for _ in venues)
    ledger = Ledger(initial)
    events: list[tuple[int, int, Fill | FundingPayment]] = []
    for r in fills:  # type: ignore[union-attr]
        f = Fill(
            r.venue,
            r.trade_id,
            r.client_order_id,
            r.instrument_id,
            Side(r.side),
            Decimal(r.qty),
            Decimal(r.price),
            Decimal(r.fee),
            Liquidity(r.liquidity),
            r.ts_ns,
            bool(r.is_liquidation),
            bool(r.is_settlement),
        )
        events.append((f.ts_ns, 0, f))
    for r in rows["funding"]:  # type: ignore[union-attr]
        events.append(
            (
                r.ts_ns,
                1,
                FundingPayment(
                    r.venue,
                    r.instrument_id,
                    r.ts_ns,
                    Decimal(r.rate),
                    Decimal(r.position_qty),
                    Decimal(r.mark),
                    Decimal(r.amount),
                ),
            )
        )
    for _, _, ev in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(ev, Fill):
            mid, touch = refs.get(ev.client_order_id, (ev.price, ev.price))
            ledger.apply_fill(ev, Decimal(mid), Decimal(touch))
        else:
            ledger.apply_funding(ev)
    marks: dict[str, Decimal] = {}
    venue_equity = Decimal(0)
    venue_pos: dict[str, Decimal] = defaultdict(Decimal)
    for v in venues.values():
        books = {b["instrument_id"]: Decimal(repr(b["mark"])) for b in v["books"]}
        marks.update(books)
        eq = Decimal(v["cash"]) + Decimal(v.get("deriv_cash", "0"))
        for iid, q in v["holdings"].items():
            eq += Decimal(q) * books[iid]
            venue_pos[iid] += Decimal(q)
        for iid, (q, entry, _lev, *isolated) in v["perps"].items():
            posted = Decimal(isolated[1]) if isolated else Decimal(0)  # margin posted to an isolated position
            eq += posted + Decimal(q) * (books[iid] - Decimal(entry))
            venue_pos[iid] += Decimal(q)
        venue_equity += eq
    ours = {k: b.qty for k, b in ledger.legs.items() if b.qty}
    theirs = {k: q for k, q in venue_pos.items() if q}
    if ours != theirs:
        problems.append(f"positions differ: bot {ours} venue {theirs}")
    residual = (venue_equity - initial) - ledger.parts(marks).total
    if abs(residual) > Decimal("1e-9"):
        problems.append(f"ledger does not balance: residual {residual}")
    stored = {k: Decimal(q) for k, q in rows["positions"].items() if Decimal(q)}  # type: ignore[union-attr]
    if stored != theirs:
        problems.append(f"stored positions {stored} differ from the venue's {theirs}")
    return problems, len(store_trades), len(rows["orders"]), len(store_funding)  # type: ignore[arg-type]


def _bot_id(kind: str, n: int) -> str:
    """Unique across invocations too: a PostgreSQL database outlives a campaign, and a bot id that a previous one
    used would find that campaign's runs."""
    return f"crash{kind}{time.time_ns() // 1_000_000 % 10**10}-{os.getpid() % 10**6}-{n}"[:32]


def calibrate(pg_url: str | None) -> Life:
    """One run without kills: how long a life lasts, and when its first order reaches the venue."""
    with tempfile.TemporaryDirectory(prefix="carrybot-crash-cal-") as tmp:
        target = Target(Path(tmp), pg_url, _bot_id("cal", random.randrange(10**6)))
        done, msg, life = _life(target, None)
        if not done:
            raise RuntimeError(f"calibration run failed: {msg}")
        problems, *_ = check(target)
        if problems:
            raise RuntimeError(f"calibration run (no kill) already fails the checks: {problems}")
        return life


def trial(rng: random.Random, ref: Life, pg_url: str | None = None, max_kills: int = 3) -> TrialResult:
    res = TrialResult()
    with tempfile.TemporaryDirectory(prefix="carrybot-crash-") as tmp:
        target = Target(Path(tmp), pg_url, _bot_id("t", rng.randrange(10**6)))
        kills_left = rng.randint(1, max_kills)
        while True:
            # uniform over a whole life: start-up, the first orders, the run's end and its final commits
            kill_after = rng.uniform(0.0, ref.total) if kills_left > 0 else None
            done, msg, _ = _life(target, kill_after, res)
            if done:
                break
            if msg != "killed":
                res.problems.append(msg)
                return res
            kills_left -= 1
            run = _finished_run(target)
            if run is not None:
                break  # killed after it recorded its end (while closing): the run is over, a restart starts anew
            res.restarts += 1
        problems, res.fills, res.orders, res.funding = check(target)
        res.problems.extend(problems)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pg-url", default=None, help="run against this PostgreSQL database instead of SQLite")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    ref = calibrate(args.pg_url)
    backend = "postgresql" if args.pg_url else "sqlite"
    print(
        f"calibration ({backend}): a life lasts {ref.total:.1f} s, first order at {ref.first_order:.1f} s", flush=True
    )
    failures = kills = after = in_commit = fills = orders = funding = 0
    for i in range(args.trials):
        r = trial(rng, ref, args.pg_url)
        kills += r.kills
        after += r.kills_after_first_order
        in_commit += r.kills_in_commit
        fills += r.fills
        orders += r.orders
        funding += r.funding
        status = "ok" if not r.problems else "FAIL " + "; ".join(r.problems)
        print(
            f"trial {i + 1:3d}: {r.kills} kills ({r.kills_after_first_order} after the first order), {r.orders} "
            f"orders, {r.fills} fills, {r.funding} funding: {status}",
            flush=True,
        )
        failures += bool(r.problems)
    print(
        f"{args.trials} trials ({backend}), {kills} SIGKILLs ({after} after the first order"
        f"{f', {in_commit} inside a store transaction' if backend == 'sqlite' else ''}), {orders} orders, "
        f"{fills} fills, {funding} funding payments, {failures} failed, {time.monotonic() - t0:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
