"""``carrybot data download`` against the venue emulator's history endpoints (Binance ``klines`` and
``fundingRate``, their page limits): paginated, every bar once, resumable after a failure part-way, and the result a
replay file a backtest loads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.feeds.bars import load_bars
from tests.emulator.binance import FAPI, SPOT, BinanceDialect, binance_account
from tests.emulator.server import Emulator

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
N = 1_600  # hourly bars: more than one page of spot klines (1,000) and of USDⓈ-M klines (1,500)


@pytest.fixture
def venue() -> Iterator[tuple[str, BinanceDialect, Emulator]]:
    acct = binance_account()
    dialect = BinanceDialect(acct, "k", "s")
    for market, off in (("spot", Decimal(0)), ("linear", Decimal(30))):
        dialect.bars[(market, "BTCUSDT")] = [  # type: ignore[index]
            (T0 + k * HOUR, p, p + 50, p - 50, p + 10, Decimal("12.5"))
            for k in range(N)
            for p in [Decimal(42_000 + (k % 97) * 10) + off]
        ]
    dialect.past_funding = [
        (T0 + k * 8 * HOUR, "BTCUSDT", Decimal("0.0001") + Decimal(k % 5) / 100_000, Decimal(42_000))
        for k in range(N // 8)
    ]
    emu = Emulator()
    emu.add(dialect)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(emu.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield emu.url, dialect, emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _args(url: str, out: Path, cache: Path) -> list[str]:
    return [
        "data", "download", "--venue", "binance", "--base", "BTC", "--since", "2024-01-01",
        "--until", "2024-03-07T15:00:00", "--timeframe", "1h", "--api-url", url,
        "--out", str(out), "--cache", str(cache),
    ]  # fmt: skip


def test_download_pages_through_klines_and_funding_into_a_replay_file(venue, tmp_path, capsys) -> None:
    url, dialect, emu = venue
    out = tmp_path / "btc.csv"
    assert main(_args(url, out, tmp_path / "cache")) == 0
    bars = load_bars(out)
    spot = [b for b in bars.bars if b.kind == "spot"]
    perp = [b for b in bars.bars if b.kind == "perp"]
    assert len(spot) == len(perp) == N  # 2024-01-01 00:00 → 2024-03-07 15:00, every hour once
    assert len({b.ts for b in spot}) == N
    settled = [b for b in perp if b.funding_rate is not None]
    assert len(settled) == N // 8 and settled[1].funding_rate == pytest.approx(0.00011)
    assert perp[0].close == pytest.approx(42_040.0)
    assert "binance BTC perp" in capsys.readouterr().out
    assert (out.with_name(out.name + ".SOURCE.md")).read_text().count("fetch_ohlcv") == 2


def test_a_download_that_fails_part_way_resumes_where_it_stopped(venue, tmp_path, capsys) -> None:
    """The second page of spot bars fails past every retry: the command exits 1 naming the venue and the call, the
    first page stays cached; the rerun asks only for what is missing and writes the same file as an unbroken run."""
    url, dialect, emu = venue
    whole = tmp_path / "whole.csv"
    assert main(_args(url, whole, tmp_path / "cache-whole")) == 0
    klines = f"{SPOT}/klines"
    dialect.acct.faults.add(klines, "pass", *["503"] * 12)  # the first request passes, then every retry fails
    out, cache = tmp_path / "btc.csv", tmp_path / "cache"
    assert main(_args(url, out, cache)) == 1
    last = capsys.readouterr().err.splitlines()[-1]  # (the lines before it: progress)
    assert last.startswith("carrybot: ") and "binance fetch_ohlcv: exchange_unavailable" in last
    assert not out.exists() and [p.name for p in cache.glob("*.json")] == ["binance-BTC-USDT-1h.ohlcv.json"]
    dialect.acct.faults.by_path.clear()
    before = emu.hits(klines)
    assert main(_args(url, out, cache)) == 0
    assert emu.hits(klines) - before == 1  # only the missing 600 bars (the first 1,000 came from the cache)
    assert out.read_text() == whole.read_text()
    assert emu.hits(f"{FAPI}/v1/klines") == 4  # two pages each for the whole run and the resumed one
