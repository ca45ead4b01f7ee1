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
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import NamedTuple, overload

from bot.logs import get_logger

log = get_logger(__name__)

BUNDLED = "funding_8h.csv.gz"
REQUIRED = ("ts", "venue", "base", "kind", "open", "high", "low", "close", "volume", "funding_rate")


class Bar(NamedTuple):
    """One validated row. A NamedTuple (immutable, and built an order of magnitude faster than a frozen dataclass:
    loading 45,000 one-minute bars is a benchmark target)."""

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


class DataFileError(ValueError):
    """A bar file that cannot be used at all (missing, unreadable, not UTF-8, no header, missing columns, or no
    usable row): the message names the file and what to do."""


# --- bars kept as columns ---------------------------------------------------------------------------------------
# One typed array per field and a small table of series, instead of one object per row: a row costs 58 bytes (an
# int64 time, a uint16 series number, six float64s) against about 600 as a ``Bar`` tuple with its floats, so 45,000
# one-minute bars of spot and perp take 5 MB rather than 55 MB. Rows are read back as ``Bar`` values only when asked.

Series = tuple[str, str, str]  # (venue, base, kind)

_NAN = math.nan


class BarColumns(Sequence[Bar]):
    """Append-only columns of bars in the order they were added (``sorted_by_time`` orders them)."""

    __slots__ = ("series", "_series_ix", "sid", "ts", "open", "high", "low", "close", "volume", "funding")

    def __init__(self) -> None:
        self.series: list[Series] = []
        self._series_ix: dict[Series, int] = {}
        self.sid = array("H")
        self.ts = array("q")
        self.open = array("d")
        self.high = array("d")
        self.low = array("d")
        self.close = array("d")
        self.volume = array("d")
        self.funding = array("d")  # NaN: no settlement at this bar (a validated rate is never NaN)

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> BarColumns:
        cols = cls()
        for b in bars:
            cols.append(b)
        return cols

    def series_id(self, key: Series) -> int:
        ix = self._series_ix.get(key)
        if ix is None:
            if len(self.series) >= 65_535:
                raise ValueError("more than 65,535 series (venue, base, kind) in one bar set")
            ix = self._series_ix[key] = len(self.series)
            self.series.append(key)
        return ix

    def append(self, b: Bar) -> None:
        self.sid.append(self.series_id((b.venue, b.base, b.kind)))
        self.ts.append(b.ts)
        self.open.append(b.open)
        self.high.append(b.high)
        self.low.append(b.low)
        self.close.append(b.close)
        self.volume.append(b.volume)
        self.funding.append(_NAN if b.funding_rate is None else b.funding_rate)

    def sorted_by_time(self) -> BarColumns:
        """The rows ordered by (ts, venue, base, kind): ``self`` when they already are (a replay file normally is)."""
        n = len(self.ts)
        series, sid, ts = self.series, self.sid, self.ts
        if all((ts[k], series[sid[k]]) < (ts[k + 1], series[sid[k + 1]]) for k in range(n - 1)):
            return self
        order = sorted(range(n), key=lambda k: (ts[k], series[sid[k]]))
        out = BarColumns()
        out.series, out._series_ix = list(series), dict(self._series_ix)
        for name in ("sid", "ts", "open", "high", "low", "close", "volume", "funding"):
            col = getattr(self, name)
            setattr(out, name, array(col.typecode, (col[k] for k in order)))
        return out

    def row(self, k: int) -> Bar:
        venue, base, kind = self.series[self.sid[k]]
        f = self.funding[k]
        return Bar(
            self.ts[k],
            venue,
            base,
            kind,
            self.open[k],
            self.high[k],
            self.low[k],
            self.close[k],
            self.volume[k],
            None if f != f else f,
        )

    def __len__(self) -> int:
        return len(self.ts)

    @overload
    def __getitem__(self, k: int) -> Bar: ...

    @overload
    def __getitem__(self, k: slice) -> list[Bar]: ...

    def __getitem__(self, k: int | slice) -> Bar | list[Bar]:
        if isinstance(k, slice):
            return [self.row(j) for j in range(*k.indices(len(self.ts)))]
        if k < 0:
            k += len(self.ts)
        if not 0 <= k < len(self.ts):
            raise IndexError("bar index out of range")
        return self.row(k)

    def __iter__(self) -> Iterator[Bar]:
        for k in range(len(self.ts)):
            yield self.row(k)


def as_columns(bars: Sequence[Bar]) -> BarColumns:
    return bars if isinstance(bars, BarColumns) else BarColumns.from_bars(bars)


@dataclass(frozen=True, slots=True)
class BarSet:
    bars: Sequence[Bar]  # ``BarColumns`` from ``load_bars``; any sequence of bars in time order will do
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
    """Read, validate and filter a bar file into columns; rows come back sorted by (ts, venue, base, kind). The file
    is decompressed and parsed as a stream: no copy of its text is held."""
    path = path or bundled_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file (CARRYBOT_REPLAY__FILE / --data)") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    binary: gzip.GzipFile | io.BytesIO = (
        gzip.GzipFile(fileobj=io.BytesIO(raw)) if path.suffix == ".gz" else io.BytesIO(raw)
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
        cols, rejected = _read_rows(reader, tuple(header.index(c) for c in REQUIRED), path, venues, bases, start, end)
    except (OSError, EOFError) as exc:  # a .gz that is not gzip, or is cut short
        raise DataFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except UnicodeDecodeError:
        where = _first_bad_byte(raw, path)
        raise DataFileError(f"{path}: not UTF-8 text (byte {where}); save it as UTF-8 CSV") from None
    if not cols:
        why = (
            f"every row was rejected ({dict(rejected)})" if rejected else "no row matches the venues, bases and window"
        )
        raise DataFileError(
            f"{path}: nothing to replay: {why} (venues {venues or 'all'}, bases {bases or 'all'}, "
            f"{start or 'start'} → {end or 'end'})"
        )
    return BarSet(cols.sorted_by_time(), hashlib.sha256(raw).hexdigest()[:16], rejected)


def _first_bad_byte(raw: bytes, path: Path) -> int:
    """Where the text stops being UTF-8 (only on that error: the whole text is decoded once to find it)."""
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
) -> tuple[BarColumns, Counter[str]]:
    lo_ts = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) if start else None
    hi_ts = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) if end else None
    rejected: Counter[str] = Counter()
    last_ts: dict[tuple[str, str, str], int] = {}
    cols = BarColumns()
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
