"""`carrybot data import` on real shapes: CryptoDataDownload CSV, a Binance funding export in London time,
ccxt OHLCV and funding-rate lists; then the imported file backtests."""

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.feeds.bars import load_bars
from bot.feeds.importer import ImportErrorWithField, TimeParser, build_series

FIX = Path(__file__).parent.parent / "fixtures" / "import"
CDD = FIX / "cdd_btcusd_perp_1h_2023-10-29.csv"
FUNDING_LONDON = FIX / "binance_funding_btcusd_cm_2023-10-29_london.csv"
OHLCV = FIX / "XRP_USDT_USDT-1h-futures.json.gz"


def utc(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp())


def test_london_times_across_the_autumn_change_land_on_the_settlement_grid() -> None:
    s = build_series(CDD, "binance", "BTC", "perp", funding=FUNDING_LONDON, funding_tz="Europe/London")
    settled = {r.ts: r.funding for r in s.rows if r.funding is not None}
    # 2023-10-29 01:00 London is ambiguous; the series' 8 h step picks 00:00 UTC (still summer time)
    assert sorted(settled) == [
        utc(2023, 10, 28, 16),
        utc(2023, 10, 29, 0),
        utc(2023, 10, 29, 8),
        utc(2023, 10, 29, 16),
        utc(2023, 10, 30, 0),
    ]
    assert set(settled.values()) == {0.0001}  # "0.010000%"
    assert s.rejected["funding_without_bar"] == 1  # 2023-10-30 08:00 is after the last price bar
    assert [r.ts for r in s.rows] == sorted(r.ts for r in s.rows)  # the source is newest first
    assert len(s.rows) == 37 and s.rows[0].ts == utc(2023, 10, 28, 12)


def test_an_ascending_hourly_london_series_keeps_both_one_oclocks() -> None:
    p = TimeParser("Europe/London")
    stamps = ["2023-10-29 00:00:00", "2023-10-29 01:00:00", "2023-10-29 01:00:00", "2023-10-29 02:00:00"]
    got = [p(s)[0] for s in stamps]
    assert got == [utc(2023, 10, 28, 23), utc(2023, 10, 29, 0), utc(2023, 10, 29, 1), utc(2023, 10, 29, 2)]


def test_a_wall_time_that_does_not_exist_is_rejected() -> None:
    assert TimeParser("Europe/London")("2024-03-31 01:30:00") == (None, "nonexistent_local_time")
    assert TimeParser("UTC")("1698624000000")[0] == utc(2023, 10, 30)  # epoch ms
    assert TimeParser("UTC")("1698624000")[0] == utc(2023, 10, 30)  # epoch s


def test_ccxt_ohlcv_and_funding_rate_lists(tmp_path: Path) -> None:
    first = json.loads(gzip.decompress(OHLCV.read_bytes()))[0]
    rates = [
        {
            "info": {},
            "symbol": "XRP/USDT:USDT",
            "fundingRate": 0.00025,
            "timestamp": first[0] + 3600_000 * 7,
            "datetime": "...",
        },
        {"symbol": "XRP/USDT:USDT", "fundingRate": "oops", "timestamp": first[0]},
    ]
    f = tmp_path / "funding.json"
    f.write_text(json.dumps(rates))
    s = build_series(OHLCV, "binance", "XRP", "perp", funding=f)
    assert len(s.rows) == 100 and s.rows[0].open == first[1]
    assert [r.funding for r in s.rows if r.funding is not None] == [0.00025]
    assert s.rejected["funding_unparseable"] == 1


def test_a_perp_without_funding_is_refused_unless_synthetic_is_asked_for_and_labelled() -> None:
    with pytest.raises(ImportErrorWithField, match="a perp needs funding"):
        build_series(OHLCV, "binance", "XRP", "perp")
    s = build_series(OHLCV, "binance", "XRP", "perp", synthetic_seed=3)
    assert any("SYNTHETIC" in n for n in s.notes)
    assert all(r.ts % (8 * 3600) == 0 for r in s.rows if r.funding is not None)
    assert sum(r.funding is not None for r in s.rows) == 12  # 100 hourly bars hold 12 settlement hours
    with pytest.raises(ImportErrorWithField, match="--venue"):
        build_series(OHLCV, "kraken", "XRP", "perp", synthetic_seed=3)


def test_written_file_loads_and_backtests_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "mine.csv.gz"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *a], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )

    res = run(
        "data",
        "import",
        str(CDD),
        "--venue",
        "binance",
        "--base",
        "BTC",
        "--kind",
        "perp",
        "--funding",
        str(FUNDING_LONDON),
        "--funding-tz",
        "Europe/London",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert "37 binance BTC perp bars imported" in res.stdout
    spot = [
        [r.ts * 1000, r.open * 0.999, r.high * 0.999, r.low * 0.999, r.close * 0.999, 1.0]
        for r in build_series(CDD, "binance", "BTC", "perp", funding=FUNDING_LONDON, funding_tz="Europe/London").rows
    ]
    (tmp_path / "spot.json").write_text(json.dumps(spot))
    res = run(
        "data",
        "import",
        "spot.json",
        "--venue",
        "binance",
        "--base",
        "BTC",
        "--kind",
        "spot",
        "--out",
        str(out),
        "--append",
    )
    assert res.returncode == 0, res.stderr
    bars = load_bars(out)
    assert len(bars.bars) == 74 and not bars.rejected
    assert (tmp_path / "mine.csv.gz.SOURCE.md").read_text().count("| binance BTC") == 2
    bt = run(
        "backtest",
        "--data",
        str(out),
        "--no-charts",
        "--no-record",
        "--json",
        "r.json",
        "--set",
        "replay.venues=[binance]",
        "--set",
        "replay.bases=[BTC]",
    )
    assert bt.returncode == 0, bt.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"]["ticks"] == 37
    assert report["run"]["data_version"] == bars.data_version
    assert report["counts"]["funding_payments"] <= 5  # one perp, five settlements in the file: never per bar
    bad = run("data", "import", str(CDD), "--venue", "binance", "--base", "BTC", "--kind", "perp", "--out", "x.csv")
    assert bad.returncode == 2 and "a perp needs funding" in bad.stderr
    bad = run(
        "data",
        "import",
        str(CDD),
        "--venue",
        "binance",
        "--base",
        "BTC",
        "--kind",
        "spot",
        "--tz",
        "Mars/Base",
        "--out",
        "x.csv",
    )
    assert bad.returncode == 2 and "--tz" in bad.stderr


def test_minute_bars_settle_funding_only_at_settlement_bars(tmp_path: Path) -> None:
    from bot.feeds.replay import ReplayFeed
    from bot.venues.fees import default_instruments

    rows = []
    t0 = utc(2024, 1, 1, 7, 58)
    for k in range(5):  # 07:58 .. 08:02: one settlement at 08:00
        ts = t0 + 60 * k
        rows.append((ts, "spot", ""))
        rows.append((ts, "perp", "0.0003" if ts % 28800 == 0 else ""))
    f = tmp_path / "m.csv"
    f.write_text(
        "ts,venue,base,kind,open,high,low,close,volume,funding_rate\n"
        + "".join(f"{ts},okx,BTC,{kind},100,101,99,100,1,{rate}\n" for ts, kind, rate in rows)
    )
    feed = ReplayFeed(load_bars(f), default_instruments(("okx",), ("BTC",)))
    perps = [s for b in feed.iter_batches() for s in b.snapshots if s.funding_interval_secs]
    assert [s.settlement is not None for s in perps] == [False, False, True, False, False]
    assert [s.funding_rate for s in perps] == [None, None, 0.0003, 0.0003, 0.0003]  # carried after settling
    assert perps[0].ts_next_funding_ns == utc(2024, 1, 1, 8) * 10**9
    assert perps[3].ts_next_funding_ns == utc(2024, 1, 1, 16) * 10**9
    assert perps[1].range_high == 101  # 1-minute bars: the previous bar is found at ts − 60 s


def test_minute_bars_annualize_volatility_by_the_minute(tmp_path: Path) -> None:
    """The governor's signals scale by the replay's bar length: the same per-bar moves on 1-minute bars are a far
    higher annual volatility than on 8-hour bars (else G1 would grant minute data 8-hour leverage)."""
    import asyncio

    from bot.assembly import build_bot
    from bot.backtest.params import with_overrides
    from bot.governor.rules_config import load_rules
    from bot.settings import Settings

    def vol_for(step: int) -> float:
        rows, t0 = [], utc(2024, 1, 1)
        for k in range(40):
            p = 100 * (1.001 if k % 2 else 0.999)
            for kind in ("spot", "perp"):
                rate = "0.0001" if kind == "perp" and (t0 + k * step) % 28800 == 0 else ""
                rows.append(f"{t0 + k * step},okx,BTC,{kind},{p},{p * 1.0005},{p * 0.9995},{p},1,{rate}\n")
        f = tmp_path / f"b{step}.csv"
        f.write_text("ts,venue,base,kind,open,high,low,close,volume,funding_rate\n" + "".join(rows))
        s = with_overrides(
            Settings(_env_file=None), {"replay.file": str(f), "replay.venues": ["okx"], "replay.bases": ["BTC"]}
        )
        # the same window in bars on both (30 of them): windows are durations, so it is 30 minutes or 10 days
        base = load_rules(None)
        signals = base.signals.model_copy(update={"vol_window": 30.0 * step})
        bot = build_bot(s, base.model_copy(update={"signals": signals}), "sim")
        asyncio.run(bot.executor.run())
        return bot.governor.signals.get("okx:BTC/USDT:USDT").realized_vol

    v1m, v8h = vol_for(60), vol_for(28800)
    assert v1m / v8h == pytest.approx((28800 / 60) ** 0.5, rel=1e-6)
