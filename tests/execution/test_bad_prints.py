"""One broken print in the market data must not move money (issue: fail safe).

The replay file below is the bundled Binance BTC history for 2024-02-01 → 04-01 with one bar multiplied by 1,000 (the
perp alone, then spot and perp together). Before the price guard and the collars, the drawdown rule halted on the
spiked marks and the flatten orders filled at the spiked price: equity 100,000 → −24,167,112 USDT.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import pytest

from bot.backtest.runner import run_replay
from bot.feeds.bars import bundled_path
from bot.governor.rules_config import load_rules
from bot.settings import Settings

SPIKE_TS = 1709337600  # 2024-03-02 00:00 UTC
WINDOW = {"start": "2024-02-01", "end": "2024-04-01", "venues": ["binance"], "bases": ["BTC"]}


def _spiked_file(tmp: Path, kinds: set[str], factor: float = 1000.0) -> Path:
    text = gzip.decompress(bundled_path().read_bytes()).decode()
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    ix = {c: header.index(c) for c in header}
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    for r in body:
        if r[ix["venue"]] == "binance" and r[ix["base"]] == "BTC":
            if int(r[ix["ts"]]) == SPIKE_TS and r[ix["kind"]] in kinds:
                for c in ("open", "high", "low", "close"):
                    r[ix[c]] = repr(float(r[ix[c]]) * factor)
            w.writerow(r)
    path = tmp / "spiked.csv"
    path.write_text(out.getvalue())
    return path


def _run(file: Path | None):
    settings = Settings(_env_file=None, replay=WINDOW | {"file": file})
    return asyncio.run(run_replay(settings, load_rules(None), paced=False, signals=False))


@pytest.fixture(scope="module")
def clean():
    return _run(None)


@pytest.mark.parametrize("kinds", [{"perp"}, {"spot", "perp"}], ids=["perp", "spot+perp"])
def test_a_1000x_print_leaves_equity_where_the_clean_data_leaves_it(clean, tmp_path: Path, kinds) -> None:
    spiked = _run(_spiked_file(tmp_path, kinds))
    start = Decimal(clean.report["equity"]["start"])
    clean_end = Decimal(clean.report["equity"]["end"])
    end = Decimal(spiked.report["equity"]["end"])
    assert clean_end > start * Decimal("0.97")  # the clean run is a normal carry run
    assert abs(end - clean_end) < start * Decimal("0.005"), (end, clean_end)
    # no order filled anywhere near the broken print (BTC traded 42k–71k in the window)
    prices = [f.price for f in spiked.bot.executor.stats.fills_log]
    assert prices and max(prices) < Decimal(100_000)
    # the print was seen, flagged and never used as a mark
    assert spiked.bot.executor.stats.suspect_prints >= len(kinds)
    assert spiked.bot.governor.trading_state.value == "active"
    assert abs(Decimal(spiked.report["ledger"]["identity_residual"])) < Decimal("1e-9")


def test_the_guard_flags_nothing_on_the_real_bundled_history(clean) -> None:
    assert clean.bot.executor.stats.suspect_prints == 0


def test_the_guard_flags_nothing_anywhere_in_the_bundled_history() -> None:
    """Every venue, base and bar of the bundled 18 months (cross-venue bar offsets up to 8.5% included)."""
    from bot.feeds.bars import load_bars
    from bot.feeds.guard import PriceGuard
    from bot.feeds.replay import ReplayFeed
    from bot.venues.fees import default_instruments

    settings = Settings(_env_file=None)
    instruments = default_instruments(settings.replay.venues, settings.replay.bases)
    feed = ReplayFeed(load_bars(None), instruments)
    guard = PriceGuard(instruments)
    n = 0
    for b in feed.iter_batches():
        out = guard.screen(b)
        n += len(out.snapshots)
        assert out is b or all(not s.suspect for s in out.snapshots)
    assert guard.flagged == 0 and n > 19_000
