"""Parameter search: a grid, scored on a train window and checked on the test window after it — once (train/test
split) or on a sliding window (walk-forward: re-fit on ``train_days``, score on the next ``test_days``, step by
``test_days``). Each evaluation is an ordinary backtest restricted to its window, so a fit cannot see its test data:
the replay loader drops every bar outside ``[start, end)`` before the bot exists.

Evaluations run in parallel on local cores (processes), or on an existing Ray cluster with ``engine="ray"``."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.domain import NS_PER_SEC
from bot.settings import Settings

METRICS = ("sharpe", "total_return", "calmar", "sortino", "net_carry_usd")


@dataclass(frozen=True, slots=True)
class Job:
    settings: Settings
    params: tuple[tuple[str, Any], ...]
    start: date
    end: date
    metric: str
    tag: str = ""  # e.g. "w3/train"


@dataclass(frozen=True, slots=True)
class JobResult:
    params: tuple[tuple[str, Any], ...]
    start: date
    end: date
    tag: str
    score: float  # the metric; −inf when undefined (no trades, flat curve)
    total_return: float
    max_drawdown: float
    sharpe: float | None
    orders: int
    data_version: str
    max_bar_ts: int  # the last bar the run saw (Unix s): the look-ahead guard's evidence


def grid(axes: Mapping[str, Sequence[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    keys = sorted(axes)
    return [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``section.field=v1,v2,v3`` (values parsed as YAML scalars)."""
    import yaml

    from bot.errors import ConfigError

    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not raw.strip():
            raise ConfigError(f"invalid --grid {item!r}: expected section.field=v1,v2")
        out[key.strip()] = [yaml.safe_load(v) for v in raw.split(",")]
    return out


def _score(report: dict[str, Any], metric: str) -> float:
    if metric == "net_carry_usd":
        led = report["ledger"]
        v: float | None = sum(float(led[k]) for k in ("funding",)) - sum(
            float(led[k]) for k in ("fees", "spread", "slippage", "borrow")
        )
    else:
        v = report["performance"].get(metric)
    return -math.inf if v is None or not math.isfinite(v) else float(v)


def evaluate(job: Job) -> JobResult:
    """One backtest on the job's window (a top-level function: it runs in worker processes and on Ray)."""
    from bot.backtest.params import with_overrides
    from bot.backtest.runner import run_replay
    from bot.governor.rules_config import load_rules

    settings = with_overrides(job.settings, dict(job.params) | {"replay.start": job.start, "replay.end": job.end})
    result = asyncio.run(run_replay(settings, load_rules(settings.rules_file), paced=False, signals=False))
    rep = result.report
    last_bar_ns = result.bot.feed.ts_range_ns[1]
    return JobResult(
        job.params,
        job.start,
        job.end,
        job.tag,
        _score(rep, job.metric),
        rep["equity"]["total_return"],
        rep["equity"]["max_drawdown"],
        rep["performance"]["sharpe"],
        rep["counts"]["orders_sent"],
        rep["run"]["data_version"],
        last_bar_ns // NS_PER_SEC,
    )


Runner = Callable[[list[Job]], list[JobResult]]


def local_runner(jobs_n: int | None = None) -> Runner:
    def run(jobs: list[Job]) -> list[JobResult]:
        n = max(1, min(jobs_n or os.cpu_count() or 1, len(jobs)))
        if n == 1:
            return [evaluate(j) for j in jobs]
        with ProcessPoolExecutor(max_workers=n) as pool:
            return list(pool.map(evaluate, jobs))

    return run


def ray_runner(address: str | None, num_cpus: int | None = None) -> Runner:
    """The same jobs on a Ray cluster (``address``: ``auto``, ``ray://host:10001``, or None for a local instance)."""
    try:
        import ray
    except ImportError as exc:  # the optional extra
        from bot.errors import ConfigError

        raise ConfigError("invalid --engine ray: Ray is not installed (pip install 'carrybot[ray]')") from exc

    def run(jobs: list[Job]) -> list[JobResult]:
        if not ray.is_initialized():  # joined once, left by ``close_ray`` when the search is over
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
            )
        remote = ray.remote(evaluate)
        return list(ray.get([remote.remote(j) for j in jobs]))

    return run


def close_ray() -> None:
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@dataclass(slots=True)
class Window:
    index: int
    train: tuple[date, date]
    test: tuple[date, date]
    chosen: tuple[tuple[str, Any], ...] = ()
    train_results: list[JobResult] = field(default_factory=list)
    test_result: JobResult | None = None
    baseline: JobResult | None = None  # the unchanged settings on the same test window: what the fit must beat


def windows(start: date, end: date, train_days: int, test_days: int) -> list[Window]:
    """Sliding windows: train ``[t, t+train)``, test ``[t+train, t+train+test)``, step ``test_days``."""
    out, t, k = [], start, 0
    while t + timedelta(days=train_days + test_days) <= end:
        a, b = t + timedelta(days=train_days), t + timedelta(days=train_days + test_days)
        out.append(Window(k, (t, a), (a, b)))
        t += timedelta(days=test_days)
        k += 1
    return out


def best(results: Sequence[JobResult]) -> JobResult:
    """Highest score; ties go to the earlier grid point (deterministic)."""
    return max(enumerate(results), key=lambda kv: (kv[1].score, -kv[0]))[1]


def walk_forward(
    settings: Settings, axes: Mapping[str, Sequence[Any]], wins: list[Window], metric: str, runner: Runner
) -> list[Window]:
    points = grid(axes)
    fits = [Job(settings, p, w.train[0], w.train[1], metric, f"w{w.index}/train") for w in wins for p in points]
    results = runner(fits)
    for w in wins:
        w.train_results = [r for r in results if r.tag == f"w{w.index}/train"]
        w.chosen = best(w.train_results).params
    tests = runner(
        [Job(settings, w.chosen, w.test[0], w.test[1], metric, f"w{w.index}/test") for w in wins]
        + [Job(settings, (), w.test[0], w.test[1], metric, f"w{w.index}/baseline") for w in wins]
    )
    for w in wins:
        w.test_result = next(r for r in tests if r.tag == f"w{w.index}/test")
        w.baseline = next(r for r in tests if r.tag == f"w{w.index}/baseline")
    return wins


def summary(wins: list[Window]) -> dict[str, Any]:
    oos = [w.test_result for w in wins if w.test_result is not None]
    compounded = math.prod(1 + r.total_return for r in oos) - 1 if oos else 0.0
    base = [w.baseline for w in wins if w.baseline is not None]
    base_compounded = math.prod(1 + r.total_return for r in base) - 1 if base else 0.0
    return {
        "windows": [
            {
                "index": w.index,
                "train": [str(w.train[0]), str(w.train[1])],
                "test": [str(w.test[0]), str(w.test[1])],
                "chosen": dict(w.chosen),
                "train_score": best(w.train_results).score if w.train_results else None,
                "test_score": w.test_result.score if w.test_result else None,
                "test_return": w.test_result.total_return if w.test_result else None,
                "test_max_drawdown": w.test_result.max_drawdown if w.test_result else None,
                "baseline_score": w.baseline.score if w.baseline else None,
                "baseline_return": w.baseline.total_return if w.baseline else None,
            }
            for w in wins
        ],
        "out_of_sample_return": compounded,
        "baseline_out_of_sample_return": base_compounded,
        "stable_choice": len({w.chosen for w in wins}) == 1,
    }
