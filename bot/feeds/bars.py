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
import io
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from bot.feeds.bar_store import Bar, BarStore, BarStoreBuilder
from bot.logs import get_logger

__all__ = ["Bar", "BarSet", "BarStore", "DataFileError", "bundled_path", "data_version", "load_bars"]

log = get_logger(__name__)

BUNDLED = "funding_8h.csv.gz"
REQUIRED = ("ts", "venue", "base", "kind", "open", "high", "low", "close", "volume", "funding_rate")


class DataFileError(ValueError):
    """A bar file that cannot be used at all (missing, unreadable, not UTF-8, no header, missing columns, or no
    usable row): the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class BarSet:
    bars: Sequence[Bar]  # a ``BarStore`` from ``load_bars``; any sequence of bars in time order will do
    data_version: str
    rejected: Counter[str]


def bundled_path() -> Path:
    return Path(str(resources.files("bot.data").joinpath(BUNDLED)))


def data_version(path: Path | None = None) -> str:
    """A short content hash of a bar file (recorded with every run)."""
    return hashlib.sha256((path or bundled_path()).read_bytes()).hexdigest()[:16]


_INF = math.inf


def _check(row: list[str], ix: tuple[int, ...]) -> tuple[Bar | None, str]:
    """One row (``ix``: positions of the REQUIRED columns) → a validated ``Bar``, or the reason it is refused."""
    i_ts, i_venue, i_base, i_kind, i_o, i_h, i_l, i_c, i_v, i_f = ix
    try:
        o, h, lo, c = float(row[i_o]), float(row[i_h]), float(row[i_l]), float(row[i_c])
        vol = float(row[i_v] or "nan")
        ts = int(row[i_ts])
    except (TypeError, ValueError, IndexError):
        return None, "unparseable"
    if not (0.0 < o < _INF and 0.0 < h < _INF and 0.0 < lo < _INF and 0.0 < c < _INF):  # NaN fails every test
        return None, "bad_price"
    if h < lo or not lo <= o <= h or not lo <= c <= h:
        return None, "inconsistent_range"
    if not 0.0 <= vol < _INF:
        vol = math.nan
    kind = row[i_kind]
    funding: float | None = None
    if kind == "perp":
        raw = row[i_f].strip()
        if raw:
            try:
                funding = float(raw)
            except ValueError:
                return None, "bad_funding"
            if not -0.05 < funding < 0.05:  # 5% per interval: no venue's clamp allows it (NaN and inf fail too)
                return None, "bad_funding"
    elif kind != "spot":
        return None, "unknown_kind"
    return Bar(ts, row[i_venue].lower(), row[i_base].upper(), kind, o, h, lo, c, vol, funding), ""


def load_bars(
    path: Path | None = None,
    venues: tuple[str, ...] | None = None,
    bases: tuple[str, ...] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> BarSet:
    """Read, validate and filter a bar file into a ``BarStore``; rows come back sorted by (ts, venue, base, kind). The
    file is decompressed and parsed as a stream (no copy of its text is held), and a history longer than a chunk is
    kept in a temporary file rather than in memory."""
    path = path or bundled_path()
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file (CARRYBOT_REPLAY__FILE / --data)") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    with fh:
        hashing = _HashingReader(fh)  # the data version is the hash of the file's bytes, taken as they stream by
        src = io.BufferedReader(hashing)
        binary: gzip.GzipFile | io.BufferedReader[_HashingReader] = (
            gzip.GzipFile(fileobj=src) if path.suffix == ".gz" else src
        )
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            reader = csv.reader(text)
            header = next(reader, [])
            if not header:
                raise DataFileError(f"{path}: empty file: expected a header with {', '.join(REQUIRED)}")
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise DataFileError(
                    f"{path}: missing columns {', '.join(missing)} (the replay format is described in "
                    "bot/data/SOURCE.md; `carrybot data import` converts other files)"
                )
            ix = tuple(header.index(c) for c in REQUIRED)
            cols, rejected = _read_rows(reader, ix, path, venues, bases, start, end)
            version = hashing.finish()
        except (OSError, EOFError) as exc:  # a .gz that is not gzip, or is cut short
            raise DataFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        except UnicodeDecodeError:
            where = _first_bad_byte(path)
            raise DataFileError(f"{path}: not UTF-8 text (byte {where}); save it as UTF-8 CSV") from None
    if not len(cols):
        why = (
            f"every row was rejected ({dict(rejected)})" if rejected else "no row matches the venues, bases and window"
        )
        raise DataFileError(
            f"{path}: nothing to replay: {why} (venues {venues or 'all'}, bases {bases or 'all'}, "
            f"{start or 'start'} → {end or 'end'})"
        )
    return BarSet(cols.build(), version, rejected)


class _HashingReader(io.RawIOBase):
    """A file read through: every byte that passes is hashed (``finish`` reads what the parser left, then says the
    short hash ``data_version`` would)."""

    def __init__(self, f: io.BufferedReader) -> None:
        self._f = f
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._f.readinto(b)
        if n:
            self._sha.update(memoryview(b)[:n])
        return n

    def finish(self) -> str:
        while chunk := self._f.read(1 << 20):
            self._sha.update(chunk)
        return self._sha.hexdigest()[:16]


def _first_bad_byte(path: Path) -> int:
    """Where the text stops being UTF-8 (only on that error: the whole text is decoded once to find it)."""
    raw = path.read_bytes()
    try:
        (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()
    except UnicodeDecodeError as exc:
        return exc.start
    return -1


def _read_rows(
    reader: Iterator[list[str]],
    ix: tuple[int, ...],
    path: Path,
    venues: tuple[str, ...] | None,
    bases: tuple[str, ...] | None,
    start: date | None,
    end: date | None,
) -> tuple[BarStoreBuilder, Counter[str]]:
    lo_ts = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) if start else None
    hi_ts = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) if end else None
    rejected: Counter[str] = Counter()
    last_ts: dict[tuple[str, str, str], int] = {}
    cols = BarStore.builder()
    for lineno, row in enumerate(reader, start=2):
        bar, reason = _check(row, ix)
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
        cols.append(bar)
    return cols, rejected
