"""``carrybot backtest`` (run, record, chart), ``backtest list`` and ``backtest compare RUN_A RUN_B``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

from bot import logs
from bot.cli_errors import ConfigError, load_settings, secrets_of
from bot.settings import Settings


def configured(args: argparse.Namespace) -> Settings:
    """Settings from the environment, then ``--strategy``, ``--from/--to`` and ``--set`` on top (validated)."""
    from bot.backtest.params import parse_assignments, with_overrides

    settings = load_settings()
    overrides = parse_assignments(getattr(args, "set", None))
    if getattr(args, "strategy", None):
        overrides["strategy.active"] = [args.strategy]
    if getattr(args, "start", None):
        overrides["replay.start"] = args.start
    if getattr(args, "end", None):
        overrides["replay.end"] = args.end
    if getattr(args, "data", None):
        overrides["replay.file"] = args.data
    return with_overrides(settings, overrides)


def trader_tables(report: dict[str, Any]) -> str:
    from bot.report_text import trader_tables as tables

    return tables(report)


def _summary(report: dict[str, Any]) -> str:
    from bot.report_text import summary

    return summary(report)


def cmd_backtest(args: argparse.Namespace) -> int:
    from bot.backtest.records import record
    from bot.backtest.runner import run_replay
    from bot.governor.rules_config import load_rules
    from bot.store.run import store_url

    settings = configured(args)
    rules = load_rules(settings.rules_file)
    logs.configure(settings.log.level, settings.log.format, secrets_of(settings))
    progress: Literal["bar"] | None = (
        "bar" if (args.progress or (args.progress is None and sys.stderr.isatty())) else None
    )
    result = asyncio.run(run_replay(settings, rules, paced=False, progress=progress, rf_annual=args.risk_free))
    report = result.report
    if not args.no_record:
        key = asyncio.run(record(store_url(settings), report, time.time_ns()))
        report["run"]["record"] = key
    out_dir = Path(args.out) if args.out else settings.data_dir / "backtests" / report["run"].get("record", "last")
    if not args.no_charts:
        from bot.backtest.charts import write_charts
        from bot.backtest.yardstick import passive_curve

        y = report.get("yardstick") or {}
        bars = getattr(result.bot.feed, "bars", None)
        passive = passive_curve(bars, result.bot.instruments, y["avg_perp_notional_usd"]) if y and bars else None
        track = result.bot.executor.stats.equity
        daily = [(d * 86_400, track.daily[d]) for d in sorted(track.daily)]
        png, html = write_charts(report, result.observer.timeline, out_dir, passive=passive, daily=daily)
        report["charts"] = {"png": str(png), "html": str(html)}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    print(_summary(report))
    tables = trader_tables(report)
    if tables:
        print(tables)
    if "record" in report["run"]:
        print(f"  recorded    {report['run']['record']}  (carrybot backtest compare {report['run']['record']} ...)")
    if "charts" in report:
        print(f"  charts      {report['charts']['html']}  {report['charts']['png']}")
    return 0


def cmd_backtest_compare(args: argparse.Namespace) -> int:
    from bot.backtest.records import compare, format_compare, load
    from bot.store.run import store_url

    settings = load_settings()
    try:
        a, b = asyncio.run(load(store_url(settings), [args.run_a, args.run_b]))
    except LookupError as exc:
        raise ConfigError(str(exc)) from exc
    c = compare(a, b)
    print(json.dumps(c, indent=2, default=str) if args.json else format_compare(c))
    return 0


def cmd_backtest_list(args: argparse.Namespace) -> int:
    from bot.backtest.records import listing
    from bot.store.run import store_url

    rows = asyncio.run(listing(store_url(load_settings())))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        tr = f"{r['total_return']:+.3%}" if r["total_return"] is not None else "n/a"
        sh = f"{r['sharpe']:.2f}" if r["sharpe"] is not None else "n/a"
        print(
            f"{r['id']:>4}  {r['key']:28} {'+'.join(r['strategies'] or []):8} return {tr:>9}  Sharpe {sh:>6}  "
            f"data {r['data_version']}  code {r['code_version']}"
        )
    return 0


def cmd_backtest_search(args: argparse.Namespace) -> int:
    from datetime import date

    from bot.backtest.search import (
        METRICS,
        Window,
        grid,
        local_runner,
        parse_grid,
        ray_runner,
        summary,
        walk_forward,
        windows,
    )
    from bot.feeds.bars import load_bars
    from bot.governor.rules_config import load_rules

    settings = configured(args)
    load_rules(settings.rules_file)  # a bad rules file fails here (exit 2), not in forty workers
    axes = parse_grid(args.grid or [])
    if not axes:
        raise ConfigError("invalid --grid: give at least one, e.g. --grid strategy.s1.entry_threshold_apr=0.05,0.1")
    if args.metric not in METRICS:
        raise ConfigError(f"invalid --metric {args.metric!r}: one of {', '.join(METRICS)}")
    from bot.backtest.params import with_overrides

    for key, values in axes.items():  # every grid value must be a valid setting before anything runs
        for v in values:
            with_overrides(settings, {key: v})
    logs.configure("warning", settings.log.format, secrets_of(settings))
    bars = load_bars(
        settings.replay.file, settings.replay.venues, settings.replay.bases, settings.replay.start, settings.replay.end
    ).bars
    if not bars:
        raise ConfigError("invalid replay window: no bars between --from and --to")
    from datetime import UTC, datetime, timedelta

    first = datetime.fromtimestamp(bars[0].ts, tz=UTC).date()
    last = datetime.fromtimestamp(bars[-1].ts, tz=UTC).date() + timedelta(days=1)
    if args.split:
        split = date.fromisoformat(args.split)
        if not first < split < last:
            raise ConfigError(f"invalid --split {split}: must fall inside the data ({first} → {last})")
        wins = [Window(0, (first, split), (split, last))]
    else:
        wins = windows(first, last, args.train_days, args.test_days)
        if not wins:
            raise ConfigError(
                f"invalid walk-forward: {args.train_days}+{args.test_days} days do not fit in {first} → {last}"
            )
    runner = ray_runner(args.address) if args.engine == "ray" else local_runner(args.jobs)
    n = len(wins) * (len(grid(axes)) + 2)  # the grid on each fit window; the choice and the defaults on each test
    print(
        f"search: {len(wins)} window(s) × grid of {n // len(wins) - 2} on {args.engine} "
        f"({args.jobs or os.cpu_count()} workers), metric {args.metric}",
        flush=True,
    )
    t0 = time.perf_counter()
    try:
        wins = walk_forward(settings, axes, wins, args.metric, runner)
    finally:
        if args.engine == "ray":
            from bot.backtest.search import close_ray

            close_ray()
    out = summary(wins) | {
        "metric": args.metric,
        "grid": axes,
        "engine": args.engine,
        "wall_secs": time.perf_counter() - t0,
        "backtests": n,
    }
    for w in out["windows"]:
        chosen = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in w["chosen"].items())
        print(
            f"  window {w['index']}: train {w['train'][0]}→{w['train'][1]}  score {w['train_score']:+.3f}  "
            f"| test {w['test'][0]}→{w['test'][1]}  score {w['test_score']:+.3f}  return {w['test_return']:+.3%}  "
            f"(defaults {w['baseline_return']:+.3%}) | {chosen}"
        )
    print(
        f"out-of-sample return {out['out_of_sample_return']:+.3%} (defaults "
        f"{out['baseline_out_of_sample_return']:+.3%}) over {len(wins)} test window(s); "
        f"{'the same choice in every window' if out['stable_choice'] else 'the choice moved between windows'}; "
        f"{n} backtests in {out['wall_secs']:.1f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


def add_backtest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bt = sub.add_parser("backtest", help="the same path on a simulated clock, as fast as possible; recorded + charted")
    bt.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    bt.add_argument("--strategy", choices=("s1", "s2", "s3"), help="run this strategy alone (S3 on generated futures)")
    bt.add_argument("--data", metavar="FILE", help="replay file (from `carrybot data import`); default: bundled")
    bt.add_argument("--from", dest="start", metavar="DATE", help="first day (UTC)")
    bt.add_argument("--to", dest="end", metavar="DATE", help="day after the last (UTC)")
    bt.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override a setting, e.g. strategy.s1.entry_threshold_apr=0.1 (repeatable)",
    )
    bt.add_argument("--risk-free", type=float, default=0.0, metavar="APR", help="annual risk-free rate for Sharpe")
    bt.add_argument("--out", metavar="DIR", help="where charts go (default: <data_dir>/backtests/<run>)")
    bt.add_argument("--no-charts", action="store_true", help="skip the PNG and HTML charts")
    bt.add_argument("--no-record", action="store_true", help="do not record the run in the store")
    bt.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    bt.set_defaults(func=cmd_backtest)
    bt_sub = bt.add_subparsers(dest="action")
    cmp_ = bt_sub.add_parser("compare", help="differences between two recorded backtests")
    cmp_.add_argument("run_a", metavar="RUN_A", help="run key, id, 'latest' or 'previous'")
    cmp_.add_argument("run_b", metavar="RUN_B")
    cmp_.add_argument("--json", action="store_true")
    cmp_.set_defaults(func=cmd_backtest_compare)
    se = bt_sub.add_parser("search", help="grid search with a train/test split or walk-forward, in parallel")
    se.add_argument("--grid", action="append", metavar="FIELD=V1,V2", help="a grid axis (repeatable)")
    se.add_argument("--metric", default="sharpe", help="sharpe, total_return, calmar, sortino or net_carry_usd")
    mode = se.add_mutually_exclusive_group()
    mode.add_argument("--split", metavar="DATE", help="train before DATE, test from DATE")
    mode.add_argument("--walk-forward", action="store_true", help="sliding windows (the default)")
    se.add_argument("--train-days", type=int, default=180)
    se.add_argument("--test-days", type=int, default=60)
    se.add_argument("--from", dest="start", metavar="DATE")
    se.add_argument("--to", dest="end", metavar="DATE")
    se.add_argument("--data", metavar="FILE")
    se.add_argument("--strategy", choices=("s1", "s2", "s3"))
    se.add_argument("--set", action="append", metavar="FIELD=VALUE")
    se.add_argument("--jobs", type=int, default=None, help="local worker processes (default: every core)")
    se.add_argument("--engine", choices=("local", "ray"), default="local")
    se.add_argument("--address", default=None, help="Ray cluster address (auto, ray://host:10001); none = local Ray")
    se.add_argument("--json", metavar="PATH")
    se.set_defaults(func=cmd_backtest_search)
    ls = bt_sub.add_parser("list", help="recorded backtests")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_backtest_list)
