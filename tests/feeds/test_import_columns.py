"""`carrybot data import` picks columns (issue 14 item 10): the Binance hourly file with spot and perp closes side by
side becomes a spot and a perp series, and a named column that is not there is a clear error (exit 2)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.feeds.bars import load_bars
from bot.feeds.importer import Columns, ImportErrorWithField, build_series

FIX = Path(__file__).parent.parent / "fixtures" / "import"
BASIS = FIX / "binance_btc_basis_1h_2024-01_02.csv.gz"
FUNDING = FIX / "binance_btcusdt_funding_2024-01_02.csv"


def hourly_file(tmp_path: Path) -> Path:
    """The fixture's spot and perp closes, imported into one replay file (London times, winter: UTC)."""
    from bot.feeds.importer import write_replay

    spot = build_series(BASIS, "binance", "BTC", "spot", "Europe/London", columns=Columns(close="BTCUSDT Spot"))
    perp = build_series(
        BASIS, "binance", "BTC", "perp", "Europe/London", funding=FUNDING, columns=Columns(close="BTCUSDT Future")
    )
    out = tmp_path / "hourly.csv.gz"
    write_replay([spot, perp], out)
    return out


def test_closes_side_by_side_become_bars_from_consecutive_closes(tmp_path: Path) -> None:
    spot = build_series(BASIS, "binance", "BTC", "spot", "Europe/London", columns=Columns(close="BTCUSDT Spot"))
    assert len(spot.rows) == 1445
    a, b = spot.rows[100], spot.rows[101]
    assert b.ts - a.ts == 3600
    assert (a.open, a.close) == (a.open, b.open)  # each bar opens at its stamp's close and closes at the next one's
    assert a.high == max(a.open, b.open) and a.low == min(a.open, b.open)
    perp = build_series(
        BASIS, "binance", "BTC", "perp", "Europe/London", funding=FUNDING, columns=Columns(close="BTCUSDT Future")
    )
    settled = [r for r in perp.rows if r.funding is not None]
    assert len(settled) >= 178 and all(r.ts % (8 * 3600) == 0 for r in settled)  # on the 00/08/16 UTC grid
    bars = load_bars(hourly_file(tmp_path))
    assert {(b.kind, b.venue) for b in bars.bars} == {("spot", "binance"), ("perp", "binance")}


def test_a_named_column_that_is_not_there_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    with pytest.raises(ImportErrorWithField, match="no column 'BTCUSDT Spott' for --close-column"):
        build_series(BASIS, "binance", "BTC", "spot", columns=Columns(close="BTCUSDT Spott"))
    with pytest.raises(ImportErrorWithField, match="missing: high, low"):
        build_series(BASIS, "binance", "BTC", "spot", columns=Columns(close="BTCUSDT Spot", open="BTCUSDT Future"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}
    res = subprocess.run(
        [sys.executable, "-m", "bot.cli", "data", "import", str(BASIS), "--venue", "binance", "--base", "BTC"]
        + ["--kind", "spot", "--close-column", "nope", "--out", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2 and "--close-column" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()
