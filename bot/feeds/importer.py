"""``carrybot data import``: price and funding histories in the common shapes → the replay format.

Shapes read (see ``../shared/data/MANIFEST.md`` for where each comes from):

- **CSV** with a time column (``timestamp``/``time``/``date``/``datetime``/``ts``/``unix``/``open_time``, any case)
  holding epoch numbers (s, ms, µs or ns, told apart by magnitude) or date-time strings in a **stated time zone**
  (``--tz``, default UTC; e.g. ``Europe/London`` for the AHA-HH files). Ambiguous wall times on the autumn change are
  resolved per series by keeping it monotonic; wall times that do not exist (spring change) are rejected and counted.
  OHLC columns by name (``open``…``close``, any case), volume from the first column starting with ``volume``,
  funding from a ``funding rate``/``funding_rate``/``fundingRate`` column (decimals or percent strings such as
  ``0.010000%``). Rows may be newest first.
- **ccxt OHLCV** lists ``[[ms, open, high, low, close, volume], ...]`` (``fetch_ohlcv``; ``.json`` or ``.json.gz``).
- **ccxt funding-rate history** lists ``[{"timestamp": ms, "fundingRate": r, ...}, ...]``
  (``fetch_funding_rate_history``), or a CSV with a time column and a funding column, given with ``--funding``:
  each rate is attached to the perp bar that opens at its settlement time.

With no funding anywhere, ``--synthetic-funding SEED`` attaches a generated series (an Ornstein–Uhlenbeck process
around 0.01% per 8 h) and the import says so on stderr and in ``<out>.SOURCE.md``.

Every bad row is skipped, counted by reason and reported; nothing half-parsed reaches the output.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.feeds.bars import REQUIRED

TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "ts", "unix", "open_time", "open time")
FUNDING_COLUMNS = ("funding_rate", "funding rate", "fundingrate", "rate")
VENUES = ("binance", "bybit", "okx")
EIGHT_HOURS = 8 * 3600


class ImportErrorWithField(ValueError):
    """A problem with the input as a whole (exit 2 from the command line)."""


@dataclass(slots=True)
class Row:
    ts: int  # Unix seconds UTC
    open: float
    high: float
    low: float
    close: float
    volume: float
    funding: float | None = None


@dataclass(slots=True)
class ImportResult:
    rows: list[Row]
    rejected: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    return gzip.decompress(raw).decode("utf-8-sig") if path.suffix == ".gz" else raw.decode("utf-8-sig")


def _epoch_secs(x: float) -> float:
    """Seconds from an epoch number in s, ms, µs or ns."""
    ax = abs(x)
    if ax >= 1e17:
        return x / 1e9
    if ax >= 1e14:
        return x / 1e6
    if ax >= 1e11:
        return x / 1e3
    return x


def parse_percent(text: str) -> float:
    t = text.strip()
    return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)


class TimeParser:
    """Date-time strings in a stated zone → UTC seconds; keeps each series monotonic across DST folds."""

    def __init__(self, tz: str) -> None:
        try:
            self.zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportErrorWithField(f"invalid --tz {tz!r}: not a known time zone") from exc
        self.utc = tz.upper() in ("UTC", "Z", "ETC/UTC")
        self.last: float | None = None
        self.step = 0.0
        self.descending: bool | None = None

    def __call__(self, text: str) -> tuple[float | None, str]:
        t = text.strip()
        try:
            return _epoch_secs(float(t)), ""
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return None, "bad_time"
        if dt.tzinfo is not None:
            return dt.timestamp(), ""
        if self.utc:
            return dt.replace(tzinfo=UTC).timestamp(), ""
        a, b = (dt.replace(tzinfo=self.zone, fold=f) for f in (0, 1))
        ta, tb = a.timestamp(), b.timestamp()
        if a.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != dt:
            return None, "nonexistent_local_time"  # inside a spring-forward gap
        if ta == tb:
            return self._seen(ta), ""
        # ambiguous (autumn change): the reading that keeps the series' step (then: its direction)
        if self.last is None:
            return self._seen(ta), ""
        if self.step:
            pick = min((ta, tb), key=lambda c: (abs(abs(c - self.last) - self.step), c))  # type: ignore[operator]
        elif self.descending:
            pick = tb if tb < self.last else ta
        else:
            pick = ta if ta > self.last else tb
        return self._seen(pick), ""

    def _seen(self, ts: float) -> float:
        if self.last is not None and ts != self.last:
            if self.descending is None:
                self.descending = ts < self.last
            self.step = abs(ts - self.last)
        self.last = ts
        return ts


def _column(fields: list[str], names: Iterable[str]) -> str | None:
    low = {f.strip().lower(): f for f in fields}
    for n in names:
        if n in low:
            return low[n]
    return None


@dataclass(frozen=True, slots=True)
class Columns:
    """Columns named by the user (``--close-column`` ...) instead of found by their usual names. With only a close
    column (a file of closes side by side, say spot and perp), each bar opens at its stamp's close and closes at the
    next stamp's; its high and low are those two (the range inside is unknown)."""

    close: str | None = None
    open: str | None = None
    high: str | None = None
    low: str | None = None
    volume: str | None = None
    funding: str | None = None

    @property
    def any(self) -> bool:
        return any((self.close, self.open, self.high, self.low, self.volume, self.funding))


def _named(path: Path, fields: list[str], flag: str, name: str | None) -> str | None:
    if name is None:
        return None
    found = name if name in fields else _column(fields, (name.strip().lower(),))
    if found is None:
        raise ImportErrorWithField(f"{path}: no column {name!r} for {flag} (columns: {', '.join(fields)})")
    return found


def _close_only(rows: list[Row]) -> list[Row]:
    """Bars from consecutive closes: open at this stamp's close, close at the next one's (rows already sorted)."""
    out = []
    for k, r in enumerate(rows):
        nxt = rows[k + 1].close if k + 1 < len(rows) else r.close
        out.append(Row(r.ts, r.close, max(r.close, nxt), min(r.close, nxt), nxt, r.volume, r.funding))
    return out


def read_csv(path: Path, tz: str, time_column: str | None = None, columns: Columns | None = None) -> ImportResult:
    text = _read_text(path)
    lines = text.splitlines()
    # CryptoDataDownload files start with a URL line before the header
    while lines and "," not in lines[0]:
        lines.pop(0)
    if lines and lines[0].lower().startswith("https://"):
        lines.pop(0)
    reader = csv.DictReader(lines)
    fields = list(reader.fieldnames or [])
    tcol = (
        time_column
        if time_column in fields
        else _column(fields, (time_column.lower(),) if time_column else TIME_COLUMNS)
    )
    if tcol is None:
        raise ImportErrorWithField(
            f"{path}: no time column (looked for {', '.join(TIME_COLUMNS)}; name one with --time-column)"
        )
    cols = {k: _column(fields, (k,)) for k in ("open", "high", "low", "close")}
    vol = next((f for f in fields if f.strip().lower().startswith("volume")), None)
    fcol = _column(fields, FUNDING_COLUMNS)
    close_only = False
    if columns is not None and columns.any:
        named = {
            k: _named(path, fields, f"--{k}-column", getattr(columns, k)) for k in ("open", "high", "low", "close")
        }
        if named["close"] is not None and not any(named[k] for k in ("open", "high", "low")):
            close_only = True
            cols = {k: named["close"] for k in cols}
        elif any(named.values()):
            missing = [k for k, v in named.items() if v is None]
            if missing:
                raise ImportErrorWithField(
                    f"{path}: name all of open/high/low/close, or --close-column alone (missing: {', '.join(missing)})"
                )
            cols = named
        vol = _named(path, fields, "--volume-column", columns.volume) if columns.volume else vol
        fcol = _named(path, fields, "--funding-column", columns.funding) if columns.funding else fcol
    has_prices = all(cols.values())
    if not has_prices and fcol is None:
        raise ImportErrorWithField(
            f"{path}: neither open/high/low/close nor a funding column (columns: {', '.join(fields)})"
        )
    parse_time = TimeParser(tz)
    out = ImportResult([])
    for rec in reader:
        ts, why = parse_time(rec.get(tcol) or "")
        if ts is None:
            out.rejected[why] += 1
            continue
        funding = None
        if fcol is not None and (rec.get(fcol) or "").strip():
            try:
                funding = parse_percent(rec[fcol])
            except ValueError:
                out.rejected["bad_funding"] += 1
                continue
        if has_prices:
            try:
                o, h, lo, c = (float(rec[cols[k]]) for k in ("open", "high", "low", "close"))
                v = float(rec[vol]) if vol and (rec.get(vol) or "").strip() else math.nan
            except (TypeError, ValueError):
                out.rejected["unparseable"] += 1
                continue
        else:
            o = h = lo = c = v = math.nan
        out.rows.append(Row(int(round(ts)), o, h, lo, c, v, funding))
    if close_only:
        out.rows.sort(key=lambda r: r.ts)
        out.rows = _close_only(out.rows)
        out.notes.append(f"close-only column {cols['close']!r}: bars built from consecutive closes")
    return out


def read_json_list(path: Path) -> ImportResult:
    """A ccxt OHLCV list or a ccxt funding-rate history list."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ImportErrorWithField(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, list):
        raise ImportErrorWithField(f"{path}: expected a list (ccxt OHLCV or funding-rate history)")
    out = ImportResult([])
    for item in data:
        try:
            if isinstance(item, list | tuple):
                ms, o, h, lo, c, v = item[:6]
                out.rows.append(
                    Row(
                        int(round(_epoch_secs(float(ms)))),
                        float(o),
                        float(h),
                        float(lo),
                        float(c),
                        float(v) if v is not None else math.nan,
                    )
                )
            elif isinstance(item, dict) and "fundingRate" in item:
                rate = item["fundingRate"]
                out.rows.append(
                    Row(
                        int(round(_epoch_secs(float(item["timestamp"])))),
                        math.nan,
                        math.nan,
                        math.nan,
                        math.nan,
                        math.nan,
                        float(rate),
                    )
                )
            else:
                out.rejected["unknown_shape"] += 1
        except (TypeError, ValueError, KeyError):
            out.rejected["unparseable"] += 1
    return out


def read_any(path: Path, tz: str, time_column: str | None = None, columns: Columns | None = None) -> ImportResult:
    if not path.exists():
        raise ImportErrorWithField(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".json"):
        return read_json_list(path)
    if name.endswith((".csv", ".txt")):
        return read_csv(path, tz, time_column, columns)
    raise ImportErrorWithField(f"{path}: unknown format (expected .csv, .json, optionally .gz)")


def synthetic_funding(
    settlements: list[int], seed: int, mean: float = 1e-4, kappa: float = 0.05, sigma: float = 4e-5
) -> dict[int, float]:
    """An Ornstein–Uhlenbeck funding series at the given settlement times (clamped to ±0.3% like the venues)."""
    rng = random.Random(seed)
    out, x = {}, mean
    for ts in settlements:
        x += kappa * (mean - x) + sigma * rng.gauss(0.0, 1.0)
        out[ts] = max(-0.003, min(0.003, x))
    return out


@dataclass(slots=True)
class Series:
    venue: str
    base: str
    kind: str
    rows: list[Row]
    rejected: Counter[str]
    notes: list[str]


def build_series(
    prices: Path,
    venue: str,
    base: str,
    kind: str,
    tz: str = "UTC",
    time_column: str | None = None,
    funding: Path | None = None,
    funding_tz: str | None = None,
    synthetic_seed: int | None = None,
    funding_interval_secs: int = EIGHT_HOURS,
    synthetic_mean: float = 1e-4,
    columns: Columns | None = None,
    funding_column: str | None = None,
) -> Series:
    venue, base, kind = venue.lower(), base.upper(), kind.lower()
    if venue not in VENUES:
        raise ImportErrorWithField(
            f"invalid --venue {venue!r}: one of {', '.join(VENUES)} (the paper venue needs its fee schedule)"
        )
    if kind not in ("spot", "perp"):
        raise ImportErrorWithField(f"invalid --kind {kind!r}: spot or perp")
    res = read_any(prices, tz, time_column, columns)
    rejected, notes = res.rejected, res.notes
    rows = [r for r in res.rows if not math.isnan(r.open)]
    if not rows:
        raise ImportErrorWithField(f"{prices}: no price rows")
    rows.sort(key=lambda r: r.ts)
    uniq: list[Row] = []
    for r in rows:
        if uniq and r.ts == uniq[-1].ts:
            rejected["duplicate_time"] += 1
            continue
        uniq.append(r)
    rows = uniq
    if kind == "spot":
        for r in rows:
            r.funding = None
        return Series(venue, base, kind, rows, rejected, notes)
    rates: dict[int, float] = {r.ts: r.funding for r in res.rows if r.funding is not None}
    if funding is not None:
        fres = read_any(funding, funding_tz or tz, None, Columns(funding=funding_column) if funding_column else None)
        rejected.update({f"funding_{k}": v for k, v in fres.rejected.items()})
        # venues stamp settlements a few ms late (e.g. 00:00:00.017): snap to the second
        rates = {r.ts: r.funding for r in fres.rows if r.funding is not None}
        notes.append(f"funding from {funding.name}: {len(rates)} settlements")
    by_ts = {r.ts: r for r in rows}
    attached = 0
    for ts, rate in rates.items():
        bar = by_ts.get(ts)
        if bar is not None:
            bar.funding = rate
            attached += 1
    for r in rows:
        if r.ts not in rates:
            r.funding = None
    if not attached:
        if synthetic_seed is None:
            raise ImportErrorWithField(
                f"{prices}: a perp needs funding: no funding column, and no --funding file "
                "matched a bar (or pass --synthetic-funding SEED to generate one, labelled)"
            )
        settle = [r.ts for r in rows if r.ts % funding_interval_secs == 0]
        for ts, rate in synthetic_funding(settle, synthetic_seed, mean=synthetic_mean).items():
            by_ts[ts].funding = rate
        attached = len(settle)
        notes.append(
            f"SYNTHETIC funding: Ornstein-Uhlenbeck around {synthetic_mean:.4%}/8h, seed {synthetic_seed}, "
            f"{attached} settlements generated (the source has no funding)"
        )
    elif funding is not None and attached < len(rates):
        rejected["funding_without_bar"] += len(rates) - attached
    notes.append(f"{attached} funding settlements on {len(rows)} bars")
    return Series(venue, base, kind, rows, rejected, notes)


def write_replay(series: list[Series], out: Path, append: bool = False) -> int:
    """Write (or merge into) a replay file; a series already there is replaced, the others are kept."""
    existing: list[dict[str, str]] = []
    if append and out.exists():
        replaced = {(s.venue, s.base, s.kind) for s in series}
        existing = [
            r
            for r in csv.DictReader(_read_text(out).splitlines())
            if (r["venue"], r["base"], r["kind"]) not in replaced
        ]
    rows: list[tuple[Any, ...]] = [tuple(r[k] for k in REQUIRED) for r in existing]
    for s in series:
        for r in s.rows:
            rows.append(
                (
                    str(r.ts),
                    s.venue,
                    s.base,
                    s.kind,
                    repr(r.open),
                    repr(r.high),
                    repr(r.low),
                    repr(r.close),
                    "" if math.isnan(r.volume) else repr(r.volume),
                    "" if r.funding is None else repr(r.funding),
                )
            )
    rows.sort(key=lambda t: (int(t[0]), t[1], t[2], t[3]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(REQUIRED)
    w.writerows(rows)
    data = buf.getvalue().encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data, mtime=0) if out.suffix == ".gz" else data)
    return len(rows)


def source_note(series: list[Series], sources: list[str]) -> str:
    lines = [
        "# Imported replay data",
        "",
        f"Written by `carrybot data import` on {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "| series | bars | first | last | notes |",
        "|---|---|---|---|---|",
    ]
    for s in series:
        first = datetime.fromtimestamp(s.rows[0].ts, tz=UTC).isoformat()
        last = datetime.fromtimestamp(s.rows[-1].ts, tz=UTC).isoformat()
        lines.append(f"| {s.venue} {s.base} {s.kind} | {len(s.rows)} | {first} | {last} | {'; '.join(s.notes)} |")
    lines += ["", "Sources:", *[f"- {x}" for x in sources], ""]
    return "\n".join(lines)
