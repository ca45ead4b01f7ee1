"""Parameter search: windows, the look-ahead guarantee, parallel and Ray engines giving the same answer."""

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.backtest.search import (
    Job,
    best,
    close_ray,
    evaluate,
    grid,
    local_runner,
    ray_runner,
    walk_forward,
    windows,
)
from bot.feeds.bars import bundled_path
from bot.settings import Settings

AXES = {"strategy.s1.entry_threshold_apr": [0.05, 0.2], "strategy.s1.persistence_periods": [1, 3]}


def settings(data: Path | None = None, **replay: object) -> Settings:
    s = Settings(_env_file=None)
    upd = {"venues": ("binance", "okx"), "bases": ("BTC",)} | replay
    if data is not None:
        upd["file"] = data
    return s.model_copy(update={"replay": s.replay.model_copy(update=upd)})


def test_windows_slide_without_overlap_and_tests_follow_their_fit() -> None:
    ws = windows(date(2023, 1, 1), date(2023, 12, 31), 120, 60)
    assert len(ws) == 4
    for w in ws:
        assert w.train[1] == w.test[0] and (w.train[1] - w.train[0]).days == 120
        assert (w.test[1] - w.test[0]).days == 60
    assert all(b.test[0] == a.test[1] for a, b in zip(ws, ws[1:], strict=False))  # tests tile the period
    assert len(grid(AXES)) == 4


def _poisoned(tmp: Path, after: date) -> Path:
    """The bundled data with every bar from ``after`` on turned upside down: funding negated, prices × 1.3."""
    cut = int(datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp())
    lines = gzip.decompress(bundled_path().read_bytes()).decode().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        if int(f[0]) >= cut:
            for i in (4, 5, 6, 7):
                f[i] = repr(float(f[i]) * 1.3)
            if f[9]:
                f[9] = repr(-float(f[9]))
        out.append(",".join(f))
    p = tmp / "poisoned.csv"
    p.write_text("\n".join(out) + "\n")
    return p


def test_walk_forward_never_lets_a_fit_see_its_test_window(tmp_path: Path) -> None:
    """Change everything after window 1's fit ends: every fit that ended before it chooses the same parameters with
    the same scores, and no fit saw a bar at or after its own end."""
    ws = lambda: windows(date(2023, 1, 1), date(2023, 9, 1), 90, 45)  # noqa: E731
    clean = walk_forward(settings(), AXES, ws(), "sharpe", local_runner(2))
    poison_from = clean[1].test[0]
    dirty = walk_forward(settings(_poisoned(tmp_path, poison_from)), AXES, ws(), "sharpe", local_runner(2))
    for c, d in zip(clean, dirty, strict=True):
        for r in c.train_results + d.train_results:
            end = int(datetime(r.end.year, r.end.month, r.end.day, tzinfo=UTC).timestamp())
            assert r.max_bar_ts < end  # the fit's data stops before its test window starts
        if c.train[1] <= poison_from:
            assert c.chosen == d.chosen
            assert [r.score for r in c.train_results] == [r.score for r in d.train_results]
    # ... and the poison is real: a window whose test lies after it scores differently
    assert clean[-1].test_result.score != dirty[-1].test_result.score
    assert clean[-1].test_result.data_version != dirty[-1].test_result.data_version


def test_ties_go_to_the_first_grid_point_and_undefined_scores_lose() -> None:
    s = settings(start=date(2023, 3, 1), end=date(2023, 3, 4))
    r = [evaluate(Job(s, p, date(2023, 3, 1), date(2023, 3, 4), "sharpe")) for p in grid(AXES)]
    assert all(x.score == float("-inf") for x in r)  # three days: no entries, Sharpe undefined
    assert best(r).params == grid(AXES)[0]


def test_ray_engine_gives_the_same_results_as_local_processes() -> None:
    pytest.importorskip("ray", reason="the optional [ray] extra")
    wins = lambda: windows(date(2023, 1, 1), date(2023, 6, 1), 90, 45)  # noqa: E731
    local = walk_forward(settings(), AXES, wins(), "total_return", local_runner(2))
    try:
        remote = walk_forward(settings(), AXES, wins(), "total_return", ray_runner(None, num_cpus=2))
    finally:
        close_ray()
    assert [w.chosen for w in local] == [w.chosen for w in remote]
    assert [r.score for w in local for r in w.train_results] == [r.score for w in remote for r in w.train_results]
    assert [w.test_result.total_return for w in local] == [w.test_result.total_return for w in remote]


def test_search_cli_split_and_bad_input(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_REPLAY__VENUES": '["binance"]',
        "CARRYBOT_REPLAY__BASES": '["BTC"]',
    }

    def cli(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "backtest", "search", *a],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )

    ok = cli(
        "--grid", "strategy.s1.entry_threshold_apr=0.05,0.2", "--split", "2024-01-01", "--jobs", "2", "--json", "s.json"
    )
    assert ok.returncode == 0, ok.stderr
    out = json.loads((tmp_path / "s.json").read_text())
    assert out["backtests"] == 4 and len(out["windows"]) == 1  # 2 fits, the choice and the defaults on test
    assert out["windows"][0]["baseline_return"] is not None
    assert out["windows"][0]["train"] == ["2023-01-01", "2024-01-01"]
    assert out["windows"][0]["chosen"]["strategy.s1.entry_threshold_apr"] in (0.05, 0.2)
    bad = cli("--grid", "strategy.s1.entry_threshold_apr=0.05,-1", "--split", "2024-01-01")
    assert bad.returncode == 2 and "strategy.s1.entry_threshold_apr" in bad.stderr
    bad = cli("--grid", "strategy.s1.entry_threshold_apr=0.05", "--split", "2030-01-01")
    assert bad.returncode == 2 and "--split" in bad.stderr
    bad = cli("--grid", "strategy.s1.entry_threshold_apr=0.05", "--metric", "vibes")
    assert bad.returncode == 2 and "--metric" in bad.stderr
