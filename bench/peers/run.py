"""carrybot beside Freqtrade and NautilusTrader on the same 45,031 one-minute BTC-perp bars, on one machine, in one
sitting, runs interleaved; then the per-order risk check of each.

Each peer is installed by name from PyPI into a virtual environment of its own (``--venvs``, made on first use; no
code of theirs is in this repository) and runs its own backtest of an EMA(10)/EMA(20) cross on the bars:
``freqtrade_job.py`` (Freqtrade's futures backtest) and ``nautilus_job.py`` (NautilusTrader's BacktestEngine with its
example ``EMACross``). carrybot runs the same bars through ``bench/minute_bars.py``'s job: the perp alone, and perp +
spot with S1 holding a position (synthetic funding and spot companion, as that benchmark says).

Every run is a fresh process pinned to one core; CPU is user + system time from the kernel's accounting of the
child (``os.wait4``), peak RSS the job's own high-water mark (``VmHWM``), which each job prints last. Medians of
``--runs``; ratios are carrybot's over the peer's. Offline once the virtual environments exist. Not part of CI.
Asserts nothing.

    python bench/peers/run.py [--runs 5] [--venvs ~/.cache/carrybot-peers]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

import governor_latency  # noqa: E402
import minute_bars  # noqa: E402  (bench/minute_bars.py: the bars, the synthetic companions, carrybot's job)

PEERS = {"freqtrade": "freqtrade==2026.9", "nautilus": "nautilus_trader==1.221.0"}


def ensure_venv(root: Path, name: str, requirement: str) -> Path:
    """The peer's own virtual environment, made and installed once (pip's ordinary index and settings)."""
    venv = root / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == requirement:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    print(f"installing {requirement} into {venv} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    marker.write_text(requirement)
    return python


def measured(cmd: list[str], cwd: Path) -> dict[str, float | str]:
    """One run in a fresh process on core 0: CPU (user + sys), peak RSS and wall, from the kernel."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: exit {os.waitstatus_to_exitcode(status)}\n{out[-2000:]}")
    proc.returncode = 0
    # peak RSS as the job measured it (VmHWM of its own process: ru_maxrss would also count the pages this parent
    # had at fork); every job prints it on its last line
    peak = json.loads(out.strip().splitlines()[-1])["rss_mb"]
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": peak, "wall": wall, "out": out}


def med(runs: list[dict[str, float | str]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "carrybot-peers")
    ap.add_argument("--risk-n", type=int, default=20_000)
    ap.add_argument(
        "--compiled-python",
        type=Path,
        help="an interpreter whose environment has carrybot's compiled build (HATCH_BUILD_HOOK_ENABLE_MYPYC=true pip "
        "install .): carrybot is run with it too",
    )
    args = ap.parse_args()
    pythons = {name: ensure_venv(args.venvs, name, req) for name, req in PEERS.items()}
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (each run pinned to one), Python "
        f"{platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"peers: {', '.join(PEERS.values())}"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = minute_bars.build_files(tmp, 0.00015)
        bars_csv = tmp / "bars.csv"
        bars_csv.write_bytes(gzip.decompress(minute_bars.SRC.read_bytes()))
        jobs = {
            "carrybot perp": [sys.executable, "-c", minute_bars.CHILD, str(files["perp"])],
            "carrybot perp+spot, S1": [sys.executable, "-c", minute_bars.CHILD, str(files["perp+spot"])],
            "freqtrade": [str(pythons["freqtrade"]), str(HERE / "freqtrade_job.py"), str(bars_csv), str(tmp / "ft")],
            "nautilus": [str(pythons["nautilus"]), str(HERE / "nautilus_job.py"), str(bars_csv)],
        }
        if args.compiled_python:
            jobs["carrybot perp+spot, compiled"] = [
                str(args.compiled_python),
                "-c",
                minute_bars.CHILD,
                str(files["perp+spot"]),
            ]
        runs: dict[str, list[dict[str, float | str]]] = {k: [] for k in jobs}
        for r in range(args.runs):  # interleaved: each round runs every job once
            for name, cmd in jobs.items():
                runs[name].append(measured(cmd, tmp))
            print(f"  round {r + 1}/{args.runs} done", flush=True)
    print(f"\n45,031 one-minute bars, median of {args.runs} interleaved runs")
    print(f"{'workload':28} {'CPU s':>7} {'wall s':>7} {'peak RSS MB':>12}")
    for name, rs in runs.items():
        print(f"{name:28} {med(rs, 'cpu'):7.2f} {med(rs, 'wall'):7.2f} {med(rs, 'rss_mb'):12.0f}")
    what = json.loads(str(runs["nautilus"][0]["out"]).strip().splitlines()[-1])
    cb = json.loads(str(runs["carrybot perp+spot, S1"][0]["out"]).strip().splitlines()[-1])
    print(
        f"(nautilus: {what['orders_filled']:,} orders filled; freqtrade: its EMA cross, long and short; "
        f"carrybot perp+spot: {cb['orders']} orders, {cb['funding_payments']} funding payments)"
    )
    print("\nratios, carrybot / peer (target: CPU ≤ 0.10, peak RSS ≤ 0.25)")
    for mine in [k for k in runs if k.startswith("carrybot")]:
        for peer in ("freqtrade", "nautilus"):
            print(
                f"  {mine:30} / {peer:10}  CPU {med(runs[mine], 'cpu') / med(runs[peer], 'cpu'):5.2f}  "
                f"wall {med(runs[mine], 'wall') / med(runs[peer], 'wall'):5.2f}  "
                f"RSS {med(runs[mine], 'rss_mb') / med(runs[peer], 'rss_mb'):5.2f}"
            )
    risk = json.loads(
        subprocess.run(
            [str(pythons["nautilus"]), str(HERE / "nautilus_risk.py"), "--n", str(args.risk_n)],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    gov = governor_latency.measure(args.risk_n, 7)
    compiled_gov = None
    if args.compiled_python:
        code = (
            "import json, sys; sys.path.insert(0, sys.argv[1]); import governor_latency; "
            "print(json.dumps(governor_latency.measure(int(sys.argv[2]), 7)))"
        )
        compiled_gov = json.loads(
            subprocess.run(
                [str(args.compiled_python), "-c", code, str(BENCH), str(args.risk_n)],
                capture_output=True,
                text=True,
                check=True,
                cwd=tempfile.gettempdir(),
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    print("\nper-order risk check, µs (target: carrybot p50 ≤ NautilusTrader's p50 without account, p99 ≤ 5× it)")
    print(f"  {'':34} {'p50':>7} {'p90':>7} {'p99':>7}")
    print(f"  {'carrybot Governor.decide, all rules':34} {gov['p50']:7.2f} {gov['p90']:7.2f} {gov['p99']:7.2f}")
    if compiled_gov is not None:
        g = compiled_gov
        print(f"  {'carrybot, compiled build':34} {g['p50']:7.2f} {g['p90']:7.2f} {g['p99']:7.2f}")
    for name in ("no_account", "cash_account"):
        q = risk[name]
        label = f"NautilusTrader RiskEngine, {name.replace('_', ' ')}"
        print(f"  {label:34} {q['p50']:7.2f} {q['p90']:7.2f} {q['p99']:7.2f}")


if __name__ == "__main__":
    main()
