"""Derive the bundled replay dataset from the AHA-HH ``all_exchanges.csv`` source file.

Run once by a maintainer (``python -m bot.data.build SRC OUT``); the output ships inside the package so that
users and CI never need the source tree. The source stores naive Europe/London local time (see SOURCE.md):
every stamp is converted to UTC here, resolving the autumn-change ambiguity by the venues' known 00/08/16 UTC
settlement alignment rather than by guessing.
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
    rows.sort(key=lambda r: (int(r[0]), r[1], r[2], r[3]))
    with gzip.open(out, "wt", newline="", compresslevel=9) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":  # pragma: no cover - maintainer tool
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bot.data.build SRC_all_exchanges.csv OUT.csv.gz")
    n = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {n} rows to {sys.argv[2]}")
