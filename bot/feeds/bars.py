"""Loading and validating bar files in the bundled replay format (see ``bot/data/SOURCE.md``).

A perp row's ``funding_rate`` is the rate settled at its ``ts``; blank means no settlement at that bar (minute bars
between 8h settlements). Bad rows (NaN, infinite, zero or negative prices, high below low, an unreadable funding rate,
a timestamp that goes backwards or repeats within its series) are skipped with a warning and counted by
reason; they never reach a strategy.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from bot.logs import get_logger

log = get_logger(__name__)

BUNDLED = "funding_8h.csv.gz"
REQUIRED = ("ts", "venue", "base", "kind", "open", "high", "low", "close", "volume", "funding_rate")


@dataclass(frozen=True, slots=True)
class Bar:
    ts: int  # bar open, Unix seconds UTC
    venue: str
    base: str
    kind: str  # "spot" | "perp"
    open: float
    high: float
    low: float
    close: float
    volume: float
    funding_rate: float | None


@dataclass(frozen=True, slots=True)
class BarSet:
    bars: tuple[Bar, ...]
    data_version: str
    rejected: Counter[str]


def bundled_path() -> Path:
    return Path(str(resources.files("bot.data").joinpath(BUNDLED)))


def data_version(path: Path | None = None) -> str:
    """A short content hash of a bar file (recorded with every run)."""
    return hashlib.sha256((path or bundled_path()).read_bytes()).hexdigest()[:16]


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def _check(row: dict[str, str]) -> tuple[Bar | None, str]:
    try:
        o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
        vol = float(row["volume"] or "nan")
        ts = int(row["ts"])
    except (TypeError, ValueError):
        return None, "unparseable"
    if not all(_finite_positive(x) for x in (o, h, lo, c)):
        return None, "bad_price"
    if h < lo or not lo <= o <= h or not lo <= c <= h:
        return None, "inconsistent_range"
    if not math.isfinite(vol) or vol < 0:
        vol = math.nan
    kind = row["kind"]
    funding: float | None = None
    if kind == "perp":
        if not (row.get("funding_rate") or "").strip():
            return Bar(ts, row["venue"].lower(), row["base"].upper(), kind, o, h, lo, c, vol, None), ""
        try:
            funding = float(row["funding_rate"])
        except (TypeError, ValueError):
            return None, "bad_funding"
        if not math.isfinite(funding) or abs(funding) >= 0.05:  # 5% per interval: no venue's clamp allows it
            return None, "bad_funding"
    elif kind != "spot":
        return None, "unknown_kind"
    return Bar(ts, row["venue"].lower(), row["base"].upper(), kind, o, h, lo, c, vol, funding), ""


def load_bars(path: Path | None = None, venues: tuple[str, ...] | None = None, bases: tuple[str, ...] | None = None,
              start: date | None = None, end: date | None = None) -> BarSet:
    """Read, validate and filter a bar file; rows come back sorted by (ts, venue, base, kind)."""
    path = path or bundled_path()
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    lo_ts = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) if start else None
    hi_ts = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) if end else None
    rejected: Counter[str] = Counter()
    last_ts: dict[tuple[str, str, str], int] = {}
    bars: list[Bar] = []
    for lineno, row in enumerate(reader, start=2):
        bar, reason = _check(row)
        if bar is None:
            rejected[reason] += 1
            log.warning("feed.row_rejected", file=path.name, line=lineno, reason=reason)
            continue
        if venues and bar.venue not in venues or bases and bar.base not in bases:
            continue
        if lo_ts is not None and bar.ts < lo_ts or hi_ts is not None and bar.ts >= hi_ts:
            continue
        key = (bar.venue, bar.base, bar.kind)
        if bar.ts <= last_ts.get(key, -1):
            rejected["non_monotonic"] += 1
            log.warning("feed.row_rejected", file=path.name, line=lineno, reason="non_monotonic")
            continue
        last_ts[key] = bar.ts
        bars.append(bar)
    bars.sort(key=lambda b: (b.ts, b.venue, b.base, b.kind))
    return BarSet(tuple(bars), hashlib.sha256(raw).hexdigest()[:16], rejected)
