"""One replay run, shared by ``carrybot run`` (paced clock, persisted) and ``carrybot backtest`` (simulated clock):
build the bot, watch it, run it, report. No separate backtest logic (SPEC §6)."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.app import Bot, build_bot, open_persistence, recover_bot
from bot.backtest.observer import RunObserver
from bot.backtest.progress import ProgressBar
from bot.domain import NS_PER_SEC, MarketBatch
from bot.execution.executor import Executor
from bot.governor import RulesConfig
from bot.report import build_report
from bot.settings import Settings, masked

Progress = Literal["lines", "bar"] | None


@dataclass(slots=True)
class ReplayResult:
    report: dict[str, Any]
    bot: Bot
    observer: RunObserver


def _date(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d %H:%M")


async def run_replay(settings: Settings, rules: RulesConfig, paced: bool, progress: Progress = None,
                     persist: bool = False, rf_annual: float = 0.0, signals: bool = True) -> ReplayResult:
    persistence = None
    if persist:
        from bot.feeds.bars import data_version

        persistence = await open_persistence(settings, data_version(settings.replay.file), masked(settings),
                                             time.time_ns())
    bot = build_bot(settings, rules, "paced" if paced else "sim", persistence)
    p = bot.persistence
    if p is not None:
        await recover_bot(bot)
        verb = "resumed" if p.resumed else "started"
        print(f"carrybot: run {p.run_key} {verb} (store {p.store.engine.url.render_as_string(hide_password=True)})",
              flush=True)
    total = bot.feed.n_bars
    every = max(1, bot.feed.n_bars // max(1, len(bot.feed.instruments)) // 20)
    observer = RunObserver()
    bar = ProgressBar(total) if progress == "bar" else None
    seen = [0]

    def tick(batch: MarketBatch, ex: Executor) -> None:
        observer(batch, ex)
        seen[0] += 1
        if bar is not None:
            bar.update(ex.stats.snapshots, batch.ts_ns, ex.stats.equity.last)
        elif progress == "lines" and seen[0] % every == 0:
            eq = ex.stats.equity.last
            pos = sum(1 for b in ex.ledger.legs.values() if b.qty)
            print(f"  {_date(batch.ts_ns)}  {ex.stats.snapshots / total:6.1%}  equity {eq:,.2f}  "
                  f"funding {float(ex.ledger.funding):+,.2f}  open legs {pos}  state {ex.governor.trading_state}",
                  flush=True)

    from bot.telemetry.wiring import start_mqtt, start_ops

    ops = await start_ops(settings, bot) if persist and settings.telemetry.enabled else None
    bridge, bridge_task = start_mqtt(settings, bot) if settings.mqtt.enabled else (None, None)
    loop = asyncio.get_running_loop()
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):  # stop after the current tick, then report (exit 0)
            loop.add_signal_handler(sig, bot.executor.stop)
    t0 = time.perf_counter()
    try:
        await bot.executor.run(tick)
    finally:
        if bar is not None:
            bar.close()
        if ops is not None:
            await ops.stop()
        if bridge is not None and bridge_task is not None:
            await bridge.stop()
            await asyncio.wait([bridge_task], timeout=5)
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    stopped = bot.executor.stopped
    if stopped and settings.execution.cancel_on_shutdown:
        await bot.executor.cancel_all()
    report = build_report(bot, observer, rf_annual)
    report["timing"] = {"wall_secs": time.perf_counter() - t0}
    if p is not None:
        await bot.executor.commit(None)  # what the shutdown produced (cancels) reaches the store
        await p.recorder.flush()
        finished = False
        if not stopped:
            try:
                await p.store.finish_run(p.run_id, {k: report[k] for k in ("equity", "ledger", "counts")},
                                         time.time_ns())
                finished = True
            except Exception as exc:  # noqa: BLE001 - the summary is still printed; the next start finishes it
                print(f"carrybot: the store did not take the run's end ({type(exc).__name__}); the next "
                      "`carrybot run` finds the run unfinished and completes it", flush=True)
        report["run"]["run_key"] = p.run_key
        report["store"] = {"healthy": p.recorder.healthy, "backlog": p.recorder.backlog,
                           "failures": p.recorder.failures, "finished": finished,
                           "recovery": None if p.recovery is None else p.recovery.summary()}
        await p.close()
    return ReplayResult(report, bot, observer)
