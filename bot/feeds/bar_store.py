"""Bars kept as columns in chunks: one typed array per field and a small table of series, instead of one object per
row, and a history longer than one chunk streamed from a temporary file instead of held in memory.

A row costs 58 bytes in a chunk (an int64 time, a uint16 series number, six float64s) against about 600 as a ``Bar``
tuple with its floats: 45,000 one-minute bars of spot and perp took 55 MB as tuples. A history of more than
``CHUNK_ROWS`` rows (1.9 MB of columns) keeps only its last chunk in memory; the others are written to an unnamed
temporary file as they fill and read back one at a time when the history is played, so a history ten times as long
runs in the memory of the short one. Rows are read back as ``Bar`` values only when asked for.
"""

from __future__ import annotations

import math
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, NamedTuple, overload

CHUNK_ROWS = 32_768  # 1.9 MB of columns; a chunk ends with its timestamp (a batch is never split across two)

Series = tuple[str, str, str]  # (venue, base, kind)

_NAN = math.nan
_FIELDS = ("sid", "ts", "open", "high", "low", "close", "volume", "funding")
_TYPES = ("H", "q", "d", "d", "d", "d", "d", "d")


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


class SeriesTable:
    """The (venue, base, kind) series of a bar set, numbered in order of first appearance."""

    __slots__ = ("keys", "_ix")

    def __init__(self) -> None:
        self.keys: list[Series] = []
        self._ix: dict[Series, int] = {}

    def id_of(self, key: Series) -> int:
        ix = self._ix.get(key)
        if ix is None:
            if len(self.keys) >= 65_535:
                raise ValueError("more than 65,535 series (venue, base, kind) in one bar set")
            ix = self._ix[key] = len(self.keys)
            self.keys.append(key)
        return ix


class BarColumns:
    """One chunk: append-only columns of bars, their series numbered in a (shared) ``SeriesTable``."""

    __slots__ = ("table", "sid", "ts", "open", "high", "low", "close", "volume", "funding")

    def __init__(self, table: SeriesTable | None = None) -> None:
        self.table = table if table is not None else SeriesTable()
        self.sid = array("H")
        self.ts = array("q")
        self.open = array("d")
        self.high = array("d")
        self.low = array("d")
        self.close = array("d")
        self.volume = array("d")
        self.funding = array("d")  # NaN: no settlement at this bar (a validated rate is never NaN)

    @property
    def series(self) -> list[Series]:
        return self.table.keys

    def append(self, b: Bar) -> None:
        self.sid.append(self.table.id_of((b.venue, b.base, b.kind)))
        self.ts.append(b.ts)
        self.open.append(b.open)
        self.high.append(b.high)
        self.low.append(b.low)
        self.close.append(b.close)
        self.volume.append(b.volume)
        self.funding.append(_NAN if b.funding_rate is None else b.funding_rate)

    def row(self, k: int) -> Bar:
        venue, base, kind = self.table.keys[self.sid[k]]
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

    def nbytes(self) -> int:
        return sum(getattr(self, n).buffer_info()[1] * getattr(self, n).itemsize for n in _FIELDS)

    def write(self, f: IO[bytes]) -> None:
        for name in _FIELDS:
            getattr(self, name).tofile(f)

    @classmethod
    def read(cls, f: IO[bytes], table: SeriesTable, offset: int, n: int) -> BarColumns:
        cols = cls(table)
        f.seek(offset)
        for name in _FIELDS:
            getattr(cols, name).fromfile(f, n)
        return cols

    def sorted_by_time(self) -> BarColumns:
        """The rows ordered by (ts, venue, base, kind)."""
        keys, sid, ts = self.table.keys, self.sid, self.ts
        order = sorted(range(len(ts)), key=lambda k: (ts[k], keys[sid[k]]))
        out = BarColumns(self.table)
        for name, code in zip(_FIELDS, _TYPES, strict=True):
            col = getattr(self, name)
            setattr(out, name, array(code, (col[k] for k in order)))
        return out


class BarStore(Sequence[Bar]):
    """A bar set in time order, as chunks of columns: the last in memory, the others (a long history) in an unnamed
    temporary file, which the system deletes when the store is collected. Built by ``BarStore.builder()``; read by
    ``chunks()`` or as a sequence of ``Bar`` values."""

    __slots__ = ("table", "_spilled", "_tail", "_file", "_len")

    def __init__(
        self, table: SeriesTable, spilled: list[tuple[int, int]], tail: BarColumns, file: IO[bytes] | None
    ) -> None:
        self.table = table
        self._spilled = spilled  # (offset, rows) of each chunk in the file, in time order
        self._tail = tail
        self._file = file
        self._len = sum(n for _, n in spilled) + len(tail)

    @staticmethod
    def builder(chunk_rows: int = CHUNK_ROWS) -> BarStoreBuilder:
        return BarStoreBuilder(chunk_rows)

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> BarStore:
        """Any bars, in the order given (a test's or a scenario's rows)."""
        b = cls.builder(chunk_rows=1 << 62)
        for bar in bars:
            b.append(bar)
        return b.build(sort=False)

    @property
    def series(self) -> list[Series]:
        return self.table.keys

    @property
    def spilled_chunks(self) -> int:
        return len(self._spilled)

    def chunks(self) -> Iterator[BarColumns]:
        """Each chunk in time order (a spilled one is read back from the file when its turn comes)."""
        f = self._file
        for offset, n in self._spilled:
            assert f is not None
            yield BarColumns.read(f, self.table, offset, n)
        yield self._tail

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, k: int) -> Bar: ...

    @overload
    def __getitem__(self, k: slice) -> list[Bar]: ...

    def __getitem__(self, k: int | slice) -> Bar | list[Bar]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(self._len))]
        if k < 0:
            k += self._len
        if not 0 <= k < self._len:
            raise IndexError("bar index out of range")
        head = self._len - len(self._tail)
        if k >= head:  # the last chunk, in memory (the first and the last bar are the common reads)
            return self._tail.row(k - head)
        for chunk in self.chunks():
            if k < len(chunk):
                return chunk.row(k)
            k -= len(chunk)
        raise IndexError("bar index out of range")  # pragma: no cover - the lengths add up

    def __iter__(self) -> Iterator[Bar]:
        for chunk in self.chunks():
            for k in range(len(chunk)):
                yield chunk.row(k)


class BarStoreBuilder:
    """Rows appended in file order; full chunks go to the temporary file as they fill (only once a history is longer
    than a chunk). ``build`` orders the rows by time when the file did not."""

    __slots__ = ("table", "_chunk_rows", "_cur", "_spilled", "_file", "_in_order", "_last")

    def __init__(self, chunk_rows: int) -> None:
        self.table = SeriesTable()
        self._chunk_rows = chunk_rows
        self._cur = BarColumns(self.table)
        self._spilled: list[tuple[int, int]] = []
        self._file: IO[bytes] | None = None
        self._in_order = True
        self._last: tuple[int, Series] | None = None

    def __len__(self) -> int:
        return sum(n for _, n in self._spilled) + len(self._cur)

    def append(self, b: Bar) -> None:
        key = (b.ts, (b.venue, b.base, b.kind))
        last = self._last
        if last is not None and key <= last:
            self._in_order = False
        self._last = key
        cur = self._cur
        # a full chunk is closed at a change of timestamp, and only while the rows come in time order
        if len(cur) >= self._chunk_rows and self._in_order and b.ts != cur.ts[-1]:
            self._spill(cur)
            cur = self._cur = BarColumns(self.table)
        cur.append(b)

    def _spill(self, cols: BarColumns) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="carrybot-bars-")
        f = self._file
        f.seek(0, 2)
        offset = f.tell()
        cols.write(f)
        self._spilled.append((offset, len(cols)))

    def build(self, sort: bool = True) -> BarStore:
        if sort and not self._in_order:  # a file out of time order is put in order in memory, whatever its length
            whole = BarColumns(self.table)
            for chunk in BarStore(self.table, self._spilled, self._cur, self._file).chunks():
                for name in _FIELDS:
                    getattr(whole, name).extend(getattr(chunk, name))
            if self._file is not None:
                self._file.close()
            return BarStore(self.table, [], whole.sorted_by_time(), None)
        return BarStore(self.table, self._spilled, self._cur, self._file)


def as_store(bars: Sequence[Bar]) -> BarStore:
    """Any sequence of bars as a store (a ``load_bars`` result already is one)."""
    return bars if isinstance(bars, BarStore) else BarStore.from_bars(bars)
