"""``carrybot data download``: a venue's OHLCV and settled funding history through ccxt (``fetch_ohlcv``,
``fetch_funding_rate_history``), paginated, rate-limited, resumable, into the replay format.

Pages are appended to a cache file per series (``<cache>/<venue>-<symbol>-<what>.json``, ccxt's own lists); a
download that stops (a venue error, Ctrl-C) starts again after the last row it kept. Each page starts after the last
row of the one before, so nothing is read twice; a page that adds nothing ends the series. ccxt's rate limiter spaces
the calls (``enableRateLimit``); transient errors are retried with backoff by the gateway's call helper's policy.
Public data only: no keys are used."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.retry import Backoff, retry
from bot.venues.errors import ErrorKind, classify, venue_error

TIMEFRAME_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "8h": 28_800_000}


@dataclass(frozen=True, slots=True)
class Wanted:
    venue: str
    symbol: str  # ccxt's: BTC/USDT (spot) or BTC/USDT:USDT (perpetual)
    since_ms: int
    until_ms: int
    timeframe: str = "1h"


def cache_path(cache: Path, w: Wanted, what: str) -> Path:
    safe = w.symbol.replace("/", "-").replace(":", "_")
    return cache / f"{w.venue}-{safe}-{w.timeframe if what == 'ohlcv' else 'funding'}.{what}.json"


def _load(path: Path) -> list[Any]:
    if not path.exists():
        return []
    rows = json.loads(path.read_text())
    return rows if isinstance(rows, list) else []


def _ts(row: Any) -> int:
    return int(row[0]) if isinstance(row, list) else int(row["timestamp"])


async def download_series(
    fetch: Callable[[int, int], Awaitable[list[Any]]],
    path: Path,
    since_ms: int,
    until_ms: int,
    page: int,
    progress: TextIO | None = None,
    label: str = "",
) -> list[Any]:
    """Every row from ``since_ms`` to ``until_ms`` (``fetch(start, limit)``), resuming after what ``path`` holds; each
    page is written to ``path`` before the next is asked for."""
    rows = [r for r in _load(path) if since_ms <= _ts(r) <= until_ms]
    start = _ts(rows[-1]) + 1 if rows else since_ms
    while start <= until_ms:
        try:
            fetched = await fetch(start, page)
        except BaseException:
            if progress is not None:
                progress.write("\n")  # the progress line ends before the error is told
            raise
        got = [r for r in fetched if start <= _ts(r) <= until_ms]
        if not got:
            break
        rows.extend(got)
        path.write_text(json.dumps(rows))
        start = _ts(got[-1]) + 1
        if progress is not None:
            done = (start - since_ms) / max(1, until_ms - since_ms)
            progress.write(f"\r  {label}: {len(rows):>7} rows, {min(done, 1.0):6.1%}")
            progress.flush()
    if progress is not None:
        progress.write(f"\r  {label}: {len(rows):>7} rows, done  \n")
    return rows


async def download(
    exchange: Any, wanted: list[Wanted], cache: Path, progress: TextIO | None = None, attempts: int = 4
) -> dict[str, tuple[Path, Path | None]]:
    """OHLCV (and, for perpetuals, funding) of each wanted series into ``cache``: symbol -> (bars file, funding
    file). A venue error after the retries raises the bot's ``VenueError``; what was downloaded stays cached."""
    progress = progress or sys.stderr  # the stream at call time (a progress line per page)
    cache.mkdir(parents=True, exist_ok=True)
    await exchange.load_markets()
    out: dict[str, tuple[Path, Path | None]] = {}
    venue = exchange.id

    async def call(what: str, fn: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
        try:
            return await retry(
                fn,
                retryable=lambda e: classify(e)[0] is ErrorKind.RETRY,
                attempts=attempts,
                backoff=Backoff(0.5, cap=8.0),
            )
        except Exception as exc:  # noqa: BLE001 - classified: the venue's text stays out
            raise venue_error(venue, what, exc) from None

    for w in wanted:

        def ohlcv(start: int, limit: int, w: Wanted = w) -> Awaitable[list[Any]]:
            return call("fetch_ohlcv", lambda: exchange.fetch_ohlcv(w.symbol, w.timeframe, start, limit))

        def funding(start: int, limit: int, w: Wanted = w) -> Awaitable[list[Any]]:
            async def rows() -> list[Any]:
                raw = await exchange.fetch_funding_rate_history(w.symbol, start, limit)
                return [{"timestamp": r["timestamp"], "fundingRate": r["fundingRate"]} for r in raw]

            return call("fetch_funding_rate_history", rows)

        market = exchange.market(w.symbol)
        bars = cache_path(cache, w, "ohlcv")
        await download_series(
            ohlcv, bars, w.since_ms, w.until_ms, 1000, progress, f"{w.venue} {w.symbol} {w.timeframe}"
        )
        rates = None
        if market.get("swap"):
            rates = cache_path(cache, w, "funding")
            await download_series(
                funding, rates, w.since_ms, w.until_ms, 1000, progress, f"{w.venue} {w.symbol} funding"
            )
        out[w.symbol] = (bars, rates)
    return out


__all__ = ["TIMEFRAME_MS", "Wanted", "cache_path", "download", "download_series"]
