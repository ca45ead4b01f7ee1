"""End to end, live: ``carrybot run --mode live`` against the venue emulator running as its own process (a living
Binance account whose prices walk and whose perpetual settles funding every few seconds). One life opens S1's carry
and holds it through settlements and is SIGKILLed; a second process resumes the run from the store and the venue's
own records, and closes the carry when funding turns. At the end the books equal the venue's: every trade booked
once, every funding payment booked as the venue paid it, positions flat at both, and the ledger's equity equal to
the venue's wallets to the cent. Nothing here reaches a real venue."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Fill, FundingPayment, Liquidity, Side
from bot.ledger import Ledger

REPO = Path(__file__).parents[2]
SPOT_ID, PERP_ID = "binance:BTC/USDT", "binance:BTC/USDT:USDT"
KEY, SECRET = "e2e-key-51f0", "e2e-secret-9c2d77"


def _rules(tmp: Path) -> Path:
    """The default rules with signal windows of seconds: the run lives for a minute, not a week."""
    text = (REPO / "rules" / "default.yaml").read_text()
    for old, new in (
        ("vol_window: 7d", "vol_window: 15s"),
        ("short_vol_window: 1d", "short_vol_window: 8s"),
        ("oi_window: 1d", "oi_window: 8s"),
        ("liq_window: 3d", "liq_window: 8s"),
        ("structure_bar: 8h", "structure_bar: 4s"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp / "rules.yaml"
    path.write_text(text)
    return path


def _until(what: str, cond: Any, secs: float) -> Any:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        out = cond()
        if out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Venue:
    def __init__(self, tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--keys", f"{KEY}:{SECRET}"]
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

    def ask(self, what: str, **q: str) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in ({"venue": "binance"} | q).items())
        with urllib.request.urlopen(f"{self.url}/_emu/{what}?{query}", timeout=5) as r:
            return dict(json.load(r))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _resting_bid(venue: Venue) -> dict[str, Any] | None:
    opened = [o for o in venue.ask("state")["orders"] if o["market"] == "spot" and o["status"] == "new"]
    return opened[-1] if opened else None


def _bot(tmp: Path, url: str, life: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_MODE": "live",
        "CARRYBOT_REPLAY__VENUES": '["binance"]',
        "CARRYBOT_REPLAY__BASES": '["BTC"]',
        "CARRYBOT_EXCHANGES__BINANCE__API_KEY": KEY,
        "CARRYBOT_EXCHANGES__BINANCE__SECRET": SECRET,
        "CARRYBOT_EXCHANGES__BINANCE__API_URL": url,
        "CARRYBOT_DATA_DIR": str(tmp / "var"),
        "CARRYBOT_TELEMETRY__PORT": "0",
        "CARRYBOT_STRATEGY__ACTIVE": '["s1"]',
        "CARRYBOT_STRATEGY__S1__FUNDING_LOOKBACK_PERIODS": "1",
        "CARRYBOT_STRATEGY__S1__PERSISTENCE_PERIODS": "1",
        "CARRYBOT_RULES_FILE": str(_rules(tmp)),
        "CARRYBOT_EXECUTION__LIVE_POLL_SECS": "0.5",
        "CARRYBOT_EXECUTION__LIVE_FUNDING_POLL_SECS": "2",
        "CARRYBOT_EXECUTION__ENTRY_TTL_SECS": "8",  # a resting addition to the carry gives way to its exit soon
        "CARRYBOT_LOG__FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--feed", "live-poll"],
        cwd=tmp,
        env=env,
        stdout=open(tmp / f"bot{life}.out", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        text=True,
    )


def _books(db: Path) -> tuple[Decimal, list[Fill], list[FundingPayment], dict[str, tuple[Decimal, Decimal]]]:
    c = sqlite3.connect(db)
    (params,) = c.execute("select params from runs").fetchone()
    opening = Decimal(json.loads(params)["opening"]["equity"])
    refs = {
        cid: (Decimal(m), Decimal(t))
        for cid, m, t in c.execute("select client_order_id, ref_mid, ref_touch from orders")
    }
    fills = [
        Fill(
            "binance",
            tid,
            cid,
            iid,
            Side(side),
            Decimal(q),
            Decimal(p),
            Decimal(fee),
            Liquidity(liq),
            ts,
            fee_qty=Decimal(fq),
        )
        for tid, cid, iid, side, q, p, fee, liq, ts, fq in c.execute(
            "select trade_id, client_order_id, instrument_id, side, qty, price, fee, liquidity, ts_ns, fee_qty "
            "from fills order by ts_ns, id"
        )
    ]
    funding = [
        FundingPayment("binance", iid, ts, Decimal(r), Decimal(q), Decimal(m), Decimal(a))
        for iid, ts, r, q, m, a in c.execute(
            "select instrument_id, ts_ns, rate, position_qty, mark, amount from funding_payments order by ts_ns"
        )
    ]
    return opening, fills, funding, refs


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and loopback subprocesses")
def test_a_live_run_opens_holds_survives_sigkill_and_closes_with_books_equal_to_the_venue(tmp_path: Path) -> None:
    venue = Venue(tmp_path)
    bots: list[subprocess.Popen[str]] = []
    try:
        bots.append(_bot(tmp_path, venue.url, 1))
        # life 1: S1 opens spot long / perp short and holds it through settlements. Its post-only spot bid rests at
        # the touch; the market then trades through it (the walk paused, the price set under the bid) and the perp
        # hedge follows at market
        resting = _until("a resting spot bid", lambda: _resting_bid(venue), 90)
        venue.ask("freeze", on="1")
        venue.ask("price", market="spot", symbol="BTCUSDT", price=str(Decimal(resting["price"]) - 20))
        venue.ask("freeze", on="0")
        _until("a hedged position", lambda: venue.ask("state")["positions"].get("BTCUSDT|BOTH", "0") != "0", 90)
        held = venue.ask("state")
        _until(
            "settlements on the held carry", lambda: len(venue.ask("state")["funding"]) >= len(held["funding"]) + 3, 30
        )
        bots[0].send_signal(signal.SIGKILL)  # no shutdown, no final read: the venue moves on without it
        bots[0].wait(10)
        time.sleep(0)  # (the venue keeps settling while no bot runs)
        _until("a settlement while down", lambda: len(venue.ask("state")["funding"]) >= len(held["funding"]) + 5, 30)

        # life 2: a fresh process resumes the run; funding turns, S1 closes both legs
        bots.append(_bot(tmp_path, venue.url, 2))
        _until("the resumed run", lambda: "resumed" in (tmp_path / "bot2.out").read_text(), 60)
        venue.ask("rate", symbol="BTCUSDT", rate="-0.0005")
        _until("both legs closed", lambda: not venue.ask("state")["positions"], 90)
        venue.ask("freeze", on="1")  # the marks the books are compared at
        time.sleep(1.5)
        bots[1].send_signal(signal.SIGTERM)
        assert bots[1].wait(60) == 0, (tmp_path / "bot2.out").read_text()[-3000:]

        state = venue.ask("state")
        opening, fills, funding, refs = _books(tmp_path / "var" / "carrybot.db")
        out2 = (tmp_path / "bot2.out").read_text()
        assert "'fills_backfilled'" in out2 and "'orphans_cancelled': 0" in out2 and "'position_mismatches': 0" in out2

        # every trade once, every submission the bot made accounted for: no duplicate order
        assert len(fills) == state["trades"] and len({f.trade_id for f in fills}) == len(fills)
        cids = [s["newClientOrderId"] for s in state["submissions"]]
        assert len(cids) == len(set(cids))
        # every funding payment as the venue paid it (those made while no bot ran included), rate, position, mark
        assert sorted(p.amount for p in funding) == sorted(Decimal(a) for a in state["funding"])
        assert all(p.rate and p.mark and p.position_qty < 0 for p in funding)  # the short perp leg received
        # flat at both; the ledger's equity equals the venue's wallets at the venue's marks, to the cent and beyond
        ledger = Ledger(initial_equity=opening)
        for f in fills:
            ref_mid, ref_touch = refs.get(f.client_order_id, (f.price, f.price))
            ledger.apply_fill(f, ref_mid, ref_touch)
        for p in funding:
            ledger.apply_funding(p)
        spot_mark = Decimal(state["prices"]["spot|BTCUSDT"])
        perp_mark = Decimal(state["prices"]["linear|BTCUSDT"])
        assert ledger.qty(PERP_ID) == 0
        assert ledger.qty(SPOT_ID) == Decimal(state["wallets"]["spot"].get("BTC", "0"))
        w = state["wallets"]
        venue_equity = (
            Decimal(w["spot"]["USDT"]) + Decimal(w["spot"].get("BTC", "0")) * spot_mark + Decimal(w["futures"]["USDT"])
        )
        assert ledger.equity({SPOT_ID: spot_mark, PERP_ID: perp_mark}) == venue_equity
        assert opening == Decimal("200000")
    finally:
        for b in bots:
            if b.poll() is None:
                b.kill()
                b.wait(10)
        venue.close()
