"""One replay run, shared by ``carrybot run`` (paced clock, persisted) and ``carrybot backtest`` (simulated clock):
build the bot, watch it, run it, report. No separate backtest logic (SPEC §6)."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.assembly import Bot, build_bot, recover_bot
from bot.backtest.observer import RunObserver
from bot.backtest.progress import ProgressBar
from bot.domain import NS_PER_SEC, MarketBatch
from bot.execution.executor import Executor
from bot.governor import RulesConfig
from bot.report import build_report
from bot.session import RunSession
from bot.settings import Settings, masked
from bot.version import code_version

if TYPE_CHECKING:
    from bot.store.run import Persistence

Progress = Literal["lines", "bar"] | None


@dataclass(slots=True)
class ReplayResult:
    report: dict[str, Any]
    bot: Bot
    observer: RunObserver


def _date(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d %H:%M")


async def run_replay(
    settings: Settings,
    rules: RulesConfig,
    paced: bool,
    progress: Progress = None,
    persist: bool = False,
    rf_annual: float = 0.0,
    signals: bool = True,
) -> ReplayResult:
    async with RunSession(settings, signals) as session:  # signal handlers first: a SIGTERM now stops cleanly
        persistence = None
        if persist:
            from bot.feeds.bars import data_version
            from bot.store.run import open_persistence

            persistence = await open_persistence(
                settings, data_version(settings.replay.file), masked(settings), time.time_ns(), code_version()
            )
            session.on_close(persistence.close)
        bot = session.adopt(build_bot(settings, rules, "paced" if paced else "sim", persistence))
        if persistence is not None:
            await recover_bot(bot)
            verb = "resumed" if persistence.resumed else "started"
            url = persistence.store.engine.url.render_as_string(hide_password=True)
            print(f"carrybot: run {persistence.run_key} {verb} (store {url})", flush=True)
        if paced:  # a trader (never a backtest) shares the firm's budget when the settings say so
            await session.join_firm()
        observer = RunObserver()
        tick = _progress(bot, observer, progress)
        await session.start_telemetry(ops=paced)  # a paper trader is watched, with a store or without
        # what start-up built (modules, bars, the store's engine) lives for the run: out of the collector's way, so
        # its passes over the loop's garbage do not rescan it (bundled replay with the store: 0.21 s of collections
        # in 2.2 s before, 0.10 s after)
        gc.freeze()
        t0 = time.perf_counter()
        try:
            await bot.executor.run(tick)
        finally:
            tick.close()
        stopped = bot.executor.stopped
        if stopped and settings.execution.cancel_on_shutdown:
            await bot.executor.cancel_all()
        report = build_report(bot, observer, rf_annual)
        report["timing"] = {"wall_secs": time.perf_counter() - t0}
        if persistence is not None:
            report["run"]["run_key"] = persistence.run_key
            report["store"] = await _close_run(bot, persistence, report, finish=not stopped)
    return ReplayResult(report, bot, observer)


async def _close_run(bot: Bot, p: Persistence, report: dict[str, Any], finish: bool) -> dict[str, Any]:
    """What the shutdown produced (cancels) reaches the store; a finished run records its end."""
    await bot.executor.commit(None)
    await p.recorder.flush()
    finished = False
    if finish:
        try:
            await p.store.finish_run(p.run_id, {k: report[k] for k in ("equity", "ledger", "counts")}, time.time_ns())
            finished = True
        except Exception as exc:  # noqa: BLE001 - the summary is still printed; the next start finishes it
            print(
                f"carrybot: the store did not take the run's end ({type(exc).__name__}); the next "
                "`carrybot run` finds the run unfinished and completes it",
                flush=True,
            )
    return {
        "healthy": p.recorder.healthy,
        "backlog": p.recorder.backlog,
        "failures": p.recorder.failures,
        "commits": p.recorder.commits,
        "ticks_committed": p.recorder.ticks_committed,
        "finished": finished,
        "recovery": None if bot.recovery is None else bot.recovery.summary(),
    }


class _progress:
    """The per-tick callback: the observer, and progress as lines or a bar."""

    def __init__(self, bot: Bot, observer: RunObserver, progress: Progress) -> None:
        self.observer = observer
        self.progress = progress
        self.total = bot.feed.n_bars
        self.every = max(1, bot.feed.n_bars // max(1, len(bot.feed.instruments)) // 20)
        self.bar = ProgressBar(self.total) if progress == "bar" else None
        self.seen = 0

    def __call__(self, batch: MarketBatch, ex: Executor) -> None:
        self.observer(batch, ex)
        self.seen += 1
        if self.bar is not None:
            self.bar.update(ex.stats.snapshots, batch.ts_ns, ex.stats.equity.last)
        elif self.progress == "lines" and self.seen % self.every == 0:
            eq = ex.stats.equity.last
            pos = sum(1 for b in ex.ledger.legs.values() if b.qty)
            print(
                f"  {_date(batch.ts_ns)}  {ex.stats.snapshots / self.total:6.1%}  equity {eq:,.2f}  "
                f"funding {float(ex.ledger.funding):+,.2f}  open legs {pos}  state {ex.governor.trading_state}",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
