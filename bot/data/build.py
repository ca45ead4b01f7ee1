"""Derive the bundled replay dataset from the AHA-HH ``all_exchanges.csv`` source file.

Run once by a maintainer (``python -m bot.data.build SRC OUT``); the output ships inside the package so that
users and CI never need the source tree. The source stores naive Europe/London local time (see SOURCE.md):
every stamp is converted to UTC here, resolving the autumn-change ambiguity by the venues' known 00/08/16 UTC
settlement alignment rather than by guessing.

The source's Bybit and OKX bars are **half a bar early** (see SOURCE.md): the bar it stamps ``T`` opened at
``T − 4h`` and closed at ``T + 4h``, while its Binance bars and every venue's funding sit on the 00/08/16 UTC
settlement clock. ``retime`` puts them on that clock using the one synchronous path the data has (Binance spot)
and each venue's own perp–spot basis, measured synchronously on that venue.
"""

from __future__ import annotations

import csv
import gzip
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
SETTLEMENT_HOURS_UTC = frozenset({0, 8, 16})
START_UTC = datetime(2023, 1, 1, tzinfo=UTC)
END_UTC = datetime(2024, 7, 1, tzinfo=UTC)  # inclusive: the source's last stamp

# source (exchange, pair, contract) -> (venue, base, kind). Coin-margined perps are left out on purpose.
_SERIES = {
    (venue, pair, contract): (venue, base, kind)
    for venue in ("binance", "bybit", "okx")
    for base in ("BTC", "ETH")
    for pair, contract, kind in ((f"{base}/USDT", "spot", "spot"), (f"{base}USDT", "perpetual", "perp"))
}

#: venues whose source bars open 4 hours before their stamp (measured: see SOURCE.md and tests/data)
EARLY_VENUES = ("bybit", "okx")
ANCHOR_VENUE = "binance"
BAR_SECS = 8 * 3600

HEADER = ("ts", "venue", "base", "kind", "open", "high", "low", "close", "volume", "funding_rate")


def london_to_utc(naive: datetime, aligned_hours: frozenset[int] = SETTLEMENT_HOURS_UTC) -> datetime:
    """Convert a naive Europe/London wall time to UTC.

    On the autumn change a wall time occurs twice (``fold`` 0 and 1); the one whose UTC hour is a
    settlement hour is the right one. Raises ``ValueError`` when neither reading is aligned.
    """
    if naive.tzinfo is not None:
        raise ValueError("expected a naive datetime")
    candidates = {naive.replace(tzinfo=LONDON, fold=fold).astimezone(UTC) for fold in (0, 1)}
    aligned = sorted(c for c in candidates if c.hour in aligned_hours and c.minute == 0)
    if len(aligned) != 1:
        raise ValueError(f"{naive.isoformat()} (Europe/London) has no unique aligned UTC reading: {sorted(candidates)}")
    return aligned[0]


def build(src: Path, out: Path) -> int:
    """Write the compact dataset; returns the number of rows written."""
    rows: list[tuple[str, ...]] = []
    with src.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            key = (rec["exchange"], rec["pair"], rec["contract"])
            if key not in _SERIES:
                continue
            venue, base, kind = _SERIES[key]
            ts = london_to_utc(datetime.fromisoformat(rec["time"]))
            if not START_UTC <= ts <= END_UTC:
                continue
            funding = rec["funding rate"].strip() if kind == "perp" else ""
            rows.append(
                (
                    str(int(ts.timestamp())),
                    venue,
                    base,
                    kind,
                    rec["open"],
                    rec["high"],
                    rec["low"],
                    rec["close"],
                    rec["volume"],
                    funding,
                )
            )
    rows = retime(rows)
    rows.sort(key=lambda r: (int(r[0]), r[1], r[2], r[3]))
    with gzip.open(out, "wt", newline="", compresslevel=9) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


def _num(x: float) -> str:
    return format(x, ".10g")


def retime(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Put the early venues' bars on the settlement clock.

    For an early venue ``v`` the source bar stamped ``T`` holds ``v``'s prices at ``T − 4h`` (open) and ``T + 4h``
    (close), spot and perp at the same instants, so ``v``'s perp/spot basis is known at ``T ± 4h``. Its bar on the
    settlement clock (``T`` → ``T + 8h``) is: spot = the anchor venue's spot bar for ``T`` (cross-venue spot gaps at
    synchronous hours are about 1.5 bp, below what the data can resolve); perp = that spot bar × ``v``'s basis
    interpolated to the bar's ends (geometric mean of the samples either side: ``T − 4h`` and ``T + 4h`` for the
    open, ``T + 4h`` and ``T + 12h`` for the close), high/low × the bar's mean basis.
    Volume and the funding rate (settled at ``T``) are ``v``'s own, unchanged.
    """
    by_key: dict[tuple[str, str, str], dict[int, tuple[str, ...]]] = {}
    for r in rows:
        by_key.setdefault((r[1], r[2], r[3]), {})[int(r[0])] = r
    out = [r for r in rows if r[1] not in EARLY_VENUES]
    for (venue, base, kind), series in sorted(by_key.items()):
        if venue not in EARLY_VENUES:
            continue
        anchor = by_key[(ANCHOR_VENUE, base, "spot")]
        spots = by_key[(venue, base, "spot")]
        # v's perp/spot basis at its source bars' opens (stamp − 4h) and closes (stamp + 4h); 1 for spot itself
        at_open = {t: float(r[4]) / float(spots[t][4]) if kind == "perp" else 1.0 for t, r in series.items()}
        at_close = {t: float(r[7]) / float(spots[t][7]) if kind == "perp" else 1.0 for t, r in series.items()}
        for ts, r in sorted(series.items()):
            a = anchor[ts]
            # the settlement bar T..T+8h: its open T lies between v's samples at T−4h (open of T) and T+4h (close of
            # T); its close T+8h between T+4h (close of T) and T+12h (close of T+8h, when there is one)
            b_open = (at_open[ts] * at_close[ts]) ** 0.5
            b_close = at_close[ts]
            if ts + BAR_SECS in series:
                b_close = (b_close * at_close[ts + BAR_SECS]) ** 0.5
            b_mid = (b_open * b_close) ** 0.5
            if kind == "spot":
                out.append((r[0], venue, base, kind, *a[4:8], r[8], r[9]))
                continue
            o, h, lo, c = (float(x) for x in a[4:8])
            vals = (o * b_open, h * b_mid, lo * b_mid, c * b_close)
            hi_v, lo_v = max(vals), min(vals)
            out.append((r[0], venue, base, kind, _num(vals[0]), _num(hi_v), _num(lo_v), _num(vals[3]), r[8], r[9]))
    return out


if __name__ == "__main__":  # pragma: no cover - maintainer tool
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bot.data.build SRC_all_exchanges.csv OUT.csv.gz")
    n = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {n} rows to {sys.argv[2]}")
