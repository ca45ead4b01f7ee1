"""End to end, live: ``carrybot run --mode live`` against the venue emulator running as its own process (a living
Binance account and a Bybit unified account whose prices walk and whose perpetuals settle funding every few
seconds). One life opens S1's carry
and holds it through settlements and is SIGKILLed; a second process resumes the run from the store and the venue's
own records, and closes the carry when funding turns. At the end the books equal the venue's: every trade booked
once, every funding payment booked as the venue paid it, positions flat at both, and the ledger's equity equal to
the venue's wallets to the cent. Nothing here reaches a real venue."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator.live_run import EmulatorProcess, books, close_and_stop, end_all, problems, start_bot, until


@pytest.mark.campaign  # ~40 s: with the three-venue run, a .ci/run step (the README's command stays under 5 minutes)
@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and loopback subprocesses")
def test_a_live_run_opens_holds_survives_sigkill_and_closes_with_books_equal_to_the_venue(tmp_path: Path) -> None:
    venue = EmulatorProcess(tmp_path)
    bots: list[subprocess.Popen[str]] = []
    try:
        bots.append(start_bot(tmp_path, venue.url, 1))
        # life 1: S1's post-only spot bid rests at the touch until the market trades through it; the perp hedge
        # follows at market; the carry is held through settlements
        until("a hedged position", lambda: venue.state()["positions"], 90, every=venue.fill_resting_bids)
        held = len(venue.state()["funding"])
        until("settlements on the held carry", lambda: len(venue.state()["funding"]) >= held + 3, 30)
        bots[0].send_signal(signal.SIGKILL)  # no shutdown, no final read: the venue moves on without it
        bots[0].wait(10)
        until("a settlement while down", lambda: len(venue.state()["funding"]) >= held + 5, 30)

        # life 2: a fresh process resumes the run; funding turns, S1 closes both legs
        bots.append(start_bot(tmp_path, venue.url, 2))
        until("the resumed run", lambda: "resumed" in (tmp_path / "bot2.out").read_text(), 60)
        close_and_stop(venue, bots[1])
        out2 = (tmp_path / "bot2.out").read_text()
        assert bots[1].returncode == 0, out2[-3000:]
        assert "'orphans_cancelled': 0" in out2 and "'position_mismatches': 0" in out2
        assert "'funding_backfilled': 0" not in out2  # the payments made while no bot ran came from the venue

        state = venue.state()
        assert problems(state, tmp_path / "var" / "carrybot.db") == []
        opening, fills, funding, _ = books(tmp_path / "var" / "carrybot.db")
        assert opening == 200_000 and len(fills) >= 4 and len(funding) >= 5
        assert all(p.rate and p.mark and p.position_qty < 0 for p in funding)  # the short perp leg received
    finally:
        end_all(bots, venue)


@pytest.mark.campaign  # ~75 s: its own .ci/run step, so the README's test command stays under 5 minutes
@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and loopback subprocesses")
def test_s1_on_three_venues_live_survives_sigkill_and_closes_with_books_equal_to_each(tmp_path: Path) -> None:
    """The same life on three emulated venues at once — Binance (spot and USDⓈ-M wallets apart), a Bybit Unified
    Trading Account and an OKX unified account (one wallet each; OKX's swap in 0.01-BTC contracts) — quoting one
    walking BTC price: S1 holds a carry on each, the bot is SIGKILLed, a fresh process resumes, every carry closes
    when funding turns, and every trade and payment on each venue is booked once, with the ledger's equity equal to
    the sum of the venues' wallets to the cent."""
    venues = ("binance", "bybit", "okx")
    venue = EmulatorProcess(tmp_path)
    bots: list[subprocess.Popen[str]] = []

    def funding_counts() -> dict[str, int]:
        return {v: len(venue.state(v)["funding"]) for v in venues}

    def all_held() -> bool:
        for v in venues:
            venue.fill_resting_bids(v)
        return all(venue.state(v)["positions"] for v in venues)

    try:
        bots.append(start_bot(tmp_path, venue.url, 1, venues))
        until("a hedged position on every venue", all_held, 90)
        held = funding_counts()
        until("settlements on every carry", lambda: all(funding_counts()[v] >= held[v] + 2 for v in venues), 30)
        bots[0].send_signal(signal.SIGKILL)
        bots[0].wait(10)
        until("settlements while down", lambda: all(funding_counts()[v] >= held[v] + 4 for v in venues), 30)

        bots.append(start_bot(tmp_path, venue.url, 2, venues))
        until("the resumed run", lambda: "resumed" in (tmp_path / "bot2.out").read_text(), 60)
        close_and_stop(venue, bots[1], venues=venues)
        out2 = (tmp_path / "bot2.out").read_text()
        assert bots[1].returncode == 0, out2[-3000:]
        assert "'orphans_cancelled': 0" in out2 and "'position_mismatches': 0" in out2

        db = tmp_path / "var" / "carrybot.db"
        assert problems({v: venue.state(v) for v in venues}, db) == []
        opening, fills, funding, _ = books(db)
        assert opening == 600_000  # the venues' balances, read at start-up
        assert {f.venue for f in fills} == set(venues) and {p.venue for p in funding} == set(venues)
        assert all(p.rate and p.position_qty < 0 for p in funding)  # each short perp leg received
        assert all(p.mark for p in funding if p.venue != "okx")  # OKX states no mark with its settled rates
    finally:
        end_all(bots, venue)
