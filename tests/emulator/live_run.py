"""A live bot against the emulator process, for the end-to-end test and the live crash harness: the emulator as its
own process, ``carrybot run --mode live`` lives on it, and the books read back from the store and compared with the
venue's own records."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from bot.domain import Fill, FundingPayment, Liquidity, Side
from bot.ledger import Ledger
from tests.emulator.names import BTC

REPO = Path(__file__).parents[2]
KEY, SECRET, PASSPHRASE = "e2e-key-51f0", "e2e-secret-9c2d77", "e2e-pass-3"
T = TypeVar("T")


def short_rules(tmp: Path) -> Path:
    """The default rules with signal windows of seconds: a run lives for a minute, not a week."""
    text = (REPO / "rules" / "default.yaml").read_text()
    for old, new in (
        ("vol_window: 7d", "vol_window: 6s"),
        ("short_vol_window: 1d", "short_vol_window: 3s"),
        ("oi_window: 1d", "oi_window: 3s"),
        ("liq_window: 3d", "liq_window: 3s"),
        ("structure_bar: 8h", "structure_bar: 2s"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp / "rules.yaml"
    path.write_text(text)
    return path


def until(what: str, cond: Callable[[], T], secs: float, every: Callable[[], None] | None = None) -> T:
    """Poll ``cond`` until it is true (``every`` runs between polls), with a deadline."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        out = cond()
        if out:
            return out
        if every is not None:
            every()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class EmulatorProcess:
    """``python -m tests.emulator`` with fast settlements; its control API."""

    def __init__(self, tmp: Path, seed: int = 7) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--keys", f"{KEY}:{SECRET}", "--seed", str(seed)]
            + ["--passphrase", PASSPHRASE]
            + ["--funding-every", "3", "--rate", "0.0005", "--step-secs", "0.2", "--vol-per-step", "0.00003"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=open(tmp / "emulator.err", "w"),  # noqa: SIM115 - lives as long as the process
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("emulator: "), line
        self.url = line.split()[1]

    def ask(self, what: str, venue: str = "binance", **q: str) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in ({"venue": venue} | q).items())
        with urllib.request.urlopen(f"{self.url}/_emu/{what}?{query}", timeout=5) as r:
            return dict(json.load(r))

    def state(self, venue: str = "binance") -> dict[str, Any]:
        return self.ask("state", venue)

    def fill_resting_bids(self, venue: str = "binance") -> None:
        """The market trades through the bot's resting post-only spot bid (the walk paused, the price under it)."""
        opened = [
            o for o in self.state(venue)["orders"] if o["market"] == "spot" and o["status"] == "new" and o["price"]
        ]
        if opened and opened[-1]["side"] == "buy":
            self.ask("freeze", venue, on="1")
            self.ask("price", venue, market="spot", symbol=BTC[venue][0], price=str(Decimal(opened[-1]["price"]) - 20))
            self.ask("freeze", venue, on="0")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_bot(tmp: Path, url: str, life: int, venues: tuple[str, ...] = ("binance",)) -> subprocess.Popen[str]:
    keys = {
        f"CARRYBOT_EXCHANGES__{v.upper()}__{name}": value
        for v in venues
        for name, value in (("API_KEY", KEY), ("SECRET", SECRET), ("API_URL", url), ("PASSWORD", PASSPHRASE))
    }
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}
        | keys
        | {
            "CARRYBOT_MODE": "live",
            "CARRYBOT_REPLAY__VENUES": json.dumps(list(venues)),
            "CARRYBOT_REPLAY__BASES": '["BTC"]',
            "CARRYBOT_DATA_DIR": str(tmp / "var"),
            "CARRYBOT_TELEMETRY__PORT": "0",
            "CARRYBOT_STRATEGY__ACTIVE": '["s1"]',
            "CARRYBOT_STRATEGY__S1__FUNDING_LOOKBACK_PERIODS": "1",
            "CARRYBOT_STRATEGY__S1__PERSISTENCE_PERIODS": "1",
            "CARRYBOT_RULES_FILE": str(short_rules(tmp)),
            "CARRYBOT_EXECUTION__LIVE_POLL_SECS": "0.5",
            "CARRYBOT_EXECUTION__LIVE_FUNDING_POLL_SECS": "2",
            "CARRYBOT_EXECUTION__ENTRY_TTL_SECS": "8",  # a resting addition to the carry gives way to its exit soon
            "CARRYBOT_LOG__FORMAT": "json",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--feed", "live-poll"],
        cwd=tmp,
        env=env,
        stdout=open(tmp / f"bot{life}.out", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        text=True,
    )


def end_all(bots: list[subprocess.Popen[str]], venue: EmulatorProcess) -> None:
    """Whatever still runs is killed; the emulator process ends."""
    for b in bots:
        if b.poll() is None:
            b.kill()
            b.wait(10)
    venue.close()


def close_and_stop(
    venue: EmulatorProcess, bot: subprocess.Popen[str], secs: float = 90, venues: tuple[str, ...] = ("binance",)
) -> None:
    """Funding turns: S1 closes both legs on every venue; then the bot is stopped with SIGTERM at frozen marks."""
    for v in venues:
        venue.ask("rate", v, symbol=BTC[v][1], rate="-0.0005")
    flat_since: list[float] = []

    def flat_for_a_while() -> bool:  # flat, and still flat once a settlement at the new rate has been seen
        if any(venue.state(v)["positions"] for v in venues):
            flat_since.clear()
            return False
        flat_since[:] = flat_since or [time.monotonic()]
        return time.monotonic() - flat_since[0] >= 5.0

    until("both legs closed for good", flat_for_a_while, secs)
    venue.ask("freeze", on="1")  # the marks the books are compared at (one walk: every venue's)
    time.sleep(1.5)
    bot.send_signal(signal.SIGTERM)
    bot.wait(60)


def books(db: Path) -> tuple[Decimal, list[Fill], list[FundingPayment], dict[str, tuple[Decimal, Decimal]]]:
    """The run's opening equity, fills, funding payments and orders' reference prices, as the store holds them."""
    c = sqlite3.connect(db)
    (params,) = c.execute("select params from runs").fetchone()
    opening = Decimal(json.loads(params)["opening"]["equity"])
    refs = {
        cid: (Decimal(m), Decimal(t))
        for cid, m, t in c.execute("select client_order_id, ref_mid, ref_touch from orders")
    }
    fills = [
        Fill(
            venue,
            tid,
            cid,
            iid,
            Side(s),
            Decimal(q),
            Decimal(p),
            Decimal(fee),
            Liquidity(liq),
            ts,
            fee_qty=Decimal(fq),
        )
        for venue, tid, cid, iid, s, q, p, fee, liq, ts, fq in c.execute(
            "select venue, trade_id, client_order_id, instrument_id, side, qty, price, fee, liquidity, ts_ns, fee_qty "
            "from fills order by ts_ns, id"
        )
    ]
    funding = [
        FundingPayment(venue, iid, ts, Decimal(r), Decimal(q), Decimal(m), Decimal(a))
        for venue, iid, ts, r, q, m, a in c.execute(
            "select venue, instrument_id, ts_ns, rate, position_qty, mark, amount from funding_payments order by ts_ns"
        )
    ]
    c.close()
    return opening, fills, funding, refs


def problems(states: dict[str, Any], db: Path) -> list[str]:
    """What does not hold between the venues' records and the store's books (empty: all of it holds). ``states``:
    each venue's ``/_emu/state`` by venue name (one Binance state alone is taken as ``{"binance": state}``)."""
    if "wallets" in states:
        states = {"binance": states}
    out: list[str] = []
    opening, fills, funding, refs = books(db)
    ledger = Ledger(initial_equity=opening)
    for f in fills:
        ref_mid, ref_touch = refs.get(f.client_order_id, (f.price, f.price))
        ledger.apply_fill(f, ref_mid, ref_touch)
    for p in funding:
        ledger.apply_funding(p)
    marks: dict[str, Decimal] = {}
    venue_equity = Decimal(0)
    for name, state in states.items():
        spot_id, perp_id = f"{name}:BTC/USDT", f"{name}:BTC/USDT:USDT"
        cids = [s["newClientOrderId"] for s in state["submissions"]]
        if len(cids) != len(set(cids)):
            out.append(f"{name}: duplicate submissions: {sorted(c for c in set(cids) if cids.count(c) > 1)}")
        ours = [f for f in fills if f.venue == name]
        if len(ours) != state["trades"] or len({f.trade_id for f in ours}) != len(ours):
            out.append(f"{name}: fills: {len(ours)} booked, {state['trades']} at the venue")
        paid = sorted(p.amount for p in funding if p.venue == name)
        if paid != sorted(Decimal(a) for a in state["funding"]):
            out.append(f"{name}: funding: {len(paid)} booked, {len(state['funding'])} paid by the venue")
        if state["positions"]:
            out.append(f"{name}: venue positions left: {state['positions']}")
        spot_mark, perp_mark = (
            Decimal(state["prices"][f"{m}|{s}"]) for m, s in zip(("spot", "linear"), BTC[name], strict=True)
        )
        marks |= {spot_id: spot_mark, perp_id: perp_mark}
        btc = sum((Decimal(w.get("BTC", "0")) for w in state["wallets"].values()), Decimal(0))
        if ledger.qty(perp_id) != 0 or ledger.qty(spot_id) != btc:
            out.append(f"{name}: positions: ledger {ledger.qty(spot_id)} / {ledger.qty(perp_id)}, venue {btc} / 0")
        venue_equity += sum((Decimal(w.get("USDT", "0")) for w in state["wallets"].values()), Decimal(0))
        venue_equity += btc * spot_mark
    ours_equity = ledger.equity(marks)
    if ours_equity != venue_equity:
        out.append(f"equity: ledger {ours_equity}, venues {venue_equity}")
    return out
