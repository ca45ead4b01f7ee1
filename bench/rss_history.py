"""Peak memory against the length of the history replayed: the 45,031 one-minute BTC bars (perp + SYNTHETIC spot,
as in ``bench/minute_bars.py``) played once, and the same bars repeated ten times end to end (450,310 minutes,
900,620 rows), each in a fresh process on one core through the whole backtest path.

    python bench/rss_history.py [--times 10]
Target (issue #17): peak RSS independent of the history's length.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import minute_bars  # noqa: E402  (the bars, the synthetic companions and the child job)


def repeated(src: Path, out: Path, times: int) -> int:
    """``src`` played ``times`` times in a row, each copy shifted past the end of the one before."""
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    header, rows = lines[0], lines[1:]
    ti = header.split(",").index("ts")
    ts = [int(r.split(",", ti + 1)[ti]) for r in (rows[0], rows[-1])]
    span = ts[1] - ts[0] + 60
    with gzip.open(out, "wt", compresslevel=1) as f:
        f.write(header + "\n")
        for k in range(times):
            for r in rows:
                p = r.split(",")
                p[ti] = str(int(p[ti]) + k * span)
                f.write(",".join(p) + "\n")
    return len(rows) * times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=int, default=10)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (1 used), Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        files = minute_bars.build_files(Path(tmp), 0.00015)
        results = []
        for times in (1, args.times):
            path = Path(tmp) / f"x{times}.csv.gz"
            rows = repeated(files["perp+spot"], path, times)
            out = subprocess.run(
                [sys.executable, "-c", minute_bars.CHILD, str(path)], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append((times, rows, r))
            print(
                f"×{times:<3} {rows:>9,} rows, {r['ticks']:>8,} ticks: peak RSS {r['rss_mb']:6.1f} MB, "
                f"run {r['run']:.1f} s, {r['orders']} orders, {r['funding_payments']} funding payments"
            )
        (_, r1, a), (_, rn, b) = results
        growth = (b["rss_mb"] - a["rss_mb"]) * 1024 * 1024 / (rn - r1)
        print(f"peak RSS ×{args.times} − ×1: {b['rss_mb'] - a['rss_mb']:+.1f} MB ({growth:+.1f} bytes per extra row)")


if __name__ == "__main__":
    main()
