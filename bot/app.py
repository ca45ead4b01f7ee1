"""Assembly: settings + rules → feed, paper venues, governor, strategies, ledger, executor. One code path for
``run`` (paced clock) and ``backtest`` (simulated clock)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from bot.clock import Clock, PacedClock, SimClock
from bot.decisions import Decision, LadderEvent, StateTransition
from bot.domain import NS_PER_SEC, Instrument, InstrumentKind
from bot.execution.executor import Executor
from bot.feeds.bars import load_bars
from bot.feeds.futures_gen import SyntheticFuturesFeed
from bot.feeds.replay import ReplayFeed, SpreadModel
from bot.governor import Governor, RulesConfig
from bot.governor.audit import MemoryAudit
from bot.ledger import Ledger
from bot.logs import get_logger
from bot.settings import Settings
from bot.strategies.base import Strategy
from bot.strategies.borrow import BorrowCurve
from bot.strategies.s1_spot_perp import SpotPerpFunding
from bot.strategies.s2_cross_venue import CrossVenueFunding
from bot.strategies.s3_basis import SpotFuturesBasis
from bot.venues.fees import default_instruments
from bot.venues.paper import PaperParams, PaperVenue
from bot.venues.paper_journal import PaperJournal
from bot.version import code_version

log = get_logger(__name__)

if TYPE_CHECKING:  # SQLAlchemy is imported only by runs that persist (backtests stay light)
    from bot.execution.recovery import RecoveryReport
    from bot.store import Store
    from bot.store.recorder import Recorder
    from bot.store.run_lock import RunLock


@dataclass(slots=True)
class Bot:
    settings: Settings
    rules: RulesConfig
    feed: ReplayFeed | SyntheticFuturesFeed
    instruments: dict[str, Instrument]
    venues: dict[str, PaperVenue]
    governor: Governor
    audit: MemoryAudit
    strategies: list[Strategy]
    ledger: Ledger
    clock: Clock
    executor: Executor
    persistence: Persistence | None = None


def make_strategies(settings: Settings, instruments: dict[str, Instrument],
                    borrow: BorrowCurve | None) -> list[Strategy]:
    cfg, slip = settings.strategy, settings.paper.slippage_bps
    makers = {
        "s1": lambda: SpotPerpFunding(cfg.s1, instruments, slip, borrow),
        "s2": lambda: CrossVenueFunding(cfg.s2, instruments, slip),
        "s3": lambda: SpotFuturesBasis(cfg.s3, instruments, slip),
    }
    return [makers[name]() for name in cfg.active]


@dataclass(slots=True)
class Persistence:
    store: Store
    run_id: int
    run_key: str
    recorder: Recorder
    resumed: bool
    cursor_ns: int | None = None
    recovery: RecoveryReport | None = None
    lock: RunLock | None = None

    async def close(self) -> None:
        """Close the store and release the run lock (the next instance may take the run over)."""
        try:
            await self.store.close()
        finally:
            if self.lock is not None:
                await self.lock.release()


class RecordingAudit(MemoryAudit):
    """The in-memory audit (counts for reports) that also hands every record to the store's recorder."""

    def __init__(self) -> None:
        super().__init__()
        self.recorder: Recorder | None = None

    def decision(self, d: Decision) -> None:
        super().decision(d)
        if self.recorder is not None:
            self.recorder.decision(d)

    def transition(self, t: StateTransition) -> None:
        super().transition(t)
        if self.recorder is not None:
            self.recorder.transition(t)

    def ladder(self, e: LadderEvent) -> None:
        super().ladder(e)
        if self.recorder is not None:
            self.recorder.ladder(e)


def store_url(settings: Settings) -> str:
    from bot.store import sqlite_url

    return settings.db.url.get_secret_value() if settings.db.url is not None else sqlite_url(settings.data_dir)


def build_bot(settings: Settings, rules: RulesConfig, clock_kind: Literal["sim", "paced"] = "sim",
              persistence: tuple[Persistence, int | None] | None = None) -> Bot:
    """Assemble the bot. With ``persistence`` (from ``open_persistence``) the venues keep journals, orders are
    written ahead and every tick is committed; the clock starts at the resume point."""
    rp = settings.replay
    instruments = default_instruments(rp.venues, rp.bases)
    bars = load_bars(rp.file, rp.venues, rp.bases, rp.start, rp.end)
    feed: ReplayFeed | SyntheticFuturesFeed = ReplayFeed(
        bars, instruments, SpreadModel(rp.half_spread_bps_spot, rp.half_spread_bps_perp, rp.spread_range_coef))
    if "s3" in settings.strategy.active:  # the bundled history has no dated futures: generate them (labelled)
        feed = SyntheticFuturesFeed(feed, settings.futures, instruments)
        instruments = dict(feed.instruments)
    start_ns, end_ns = feed.ts_range_ns
    resume_ns = persistence[1] if persistence is not None else None
    clock_start = resume_ns if resume_ns is not None else start_ns
    clock: Clock
    if clock_kind == "paced" and settings.replay.pace_secs > 0 and end_ns > start_ns:
        clock = PacedClock(clock_start, (end_ns - start_ns) / NS_PER_SEC / settings.replay.pace_secs)
    else:
        clock = SimClock(clock_start)
    pp = settings.paper
    borrow = settings.borrow.curve if settings.borrow.enabled else None
    params = PaperParams(initial_cash=pp.initial_balance_usd, latency_secs=pp.latency_ms / 1000,
                         slippage_bps=pp.slippage_bps, impact_bps_per_million_usd=pp.impact_bps_per_million_usd,
                         partial_fill_fraction=pp.partial_fill_fraction, borrow=borrow,
                         borrow_margin_pct=settings.borrow.margin_pct)
    p = persistence[0] if persistence is not None else None
    venues = {}
    for v in rp.venues:
        journal = PaperJournal(settings.data_dir / "paper" / f"{_safe(p.run_key)}.db", v) if p else None
        venues[v] = PaperVenue(v, instruments, clock, params, journal)
    audit = RecordingAudit()
    step = feed.bar_secs if isinstance(feed, ReplayFeed) else feed._feed.bar_secs  # signals scale by the bar length
    governor = Governor(rules, instruments, audit, snapshot_step_secs=step,
                        client_id_prefix=f"r{p.run_id}-" if p else "")
    strategies = make_strategies(settings, instruments, borrow)
    ledger = Ledger(initial_equity=pp.initial_balance_usd * Decimal(len(venues)))
    executor = Executor(feed.batches, venues, governor, strategies, ledger, clock, instruments,
                        settings.execution.entry_ttl_secs, recorder=p.recorder if p else None)
    audit.recorder = p.recorder if p else None
    return Bot(settings, rules, feed, instruments, venues, governor, audit, strategies, ledger, clock, executor, p)


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


async def open_persistence(settings: Settings, data_version: str, params: dict[str, object],
                           now_ns: int) -> tuple[Persistence, int | None]:
    """Upgrade the store, then resume this bot's unfinished run (after a crash or a stop) or start a new one."""
    from bot.store import Store
    from bot.store.recorder import Recorder
    from bot.store.run_lock import RunLock

    url = store_url(settings)
    lock = RunLock(url, settings.bot_id)  # one instance per bot: a second one exits 2 naming the holder
    await lock.acquire()
    store = Store(url)
    try:
        await store.upgrade()
    except BaseException:
        await store.close()
        await lock.release()
        raise
    mine = f"{settings.bot_id}:"
    unfinished = [r for r in await store.runs() if r.run_key.startswith(mine) and r.status == "running"]
    key = unfinished[-1].run_key if unfinished else f"{settings.bot_id}:{now_ns}"
    run = await store.open_run(key, settings.mode, params, data_version, code_version(), now_ns)
    p = Persistence(store, run.id, key, Recorder(store, run.id), resumed=bool(unfinished), cursor_ns=run.cursor_ns,
                    lock=lock)
    return p, run.cursor_ns


async def recover_bot(bot: Bot) -> None:
    """After a restart: reconcile the store with the venues, rebuild the ledger, restore the governor."""
    from bot.execution.recovery import recover

    p = bot.persistence
    assert p is not None
    p.recovery = await recover(p.store, p.run_id, bot.executor, p.cursor_ns)


async def build_live_bot(settings: Settings, rules: RulesConfig, live_orders: bool, stream: bool = True,
                         persistence: Persistence | None = None) -> Bot:
    """Paper trading on live public data (``live_orders=False``: no keys, simulated fills) or live trading with the
    configured keys (``live_orders=True``). Same executor, governor and strategies; only feed, gateways and clock
    differ. ``stream``: websocket watchers (ccxt.pro) with REST where a venue streams nothing; else REST polling."""
    from bot.venues.ccxt_gateway import CcxtGateway
    from bot.venues.fees import PERP_FEES

    gateways: dict[str, CcxtGateway] = {}
    for venue in settings.replay.venues:
        cred = settings.exchanges.get(venue)
        keys = {} if cred is None or not live_orders else {
            "api_key": cred.api_key.get_secret_value(), "secret": cred.secret.get_secret_value(),
            "password": cred.password.get_secret_value() if cred.password else ""}
        gw = CcxtGateway.create(venue, PERP_FEES[venue], sandbox=bool(cred and cred.sandbox), stream=stream, **keys)
        gateways[venue] = gw
        try:
            await gw.load()
        except BaseException:  # nothing left open behind a failed start (ccxt's "Unclosed client session")
            for g in gateways.values():
                await g.close()
            raise
    return await assemble_live(settings, rules, gateways, live_orders, stream, persistence)


async def assemble_live(settings: Settings, rules: RulesConfig, gateways: dict[str, Any], live_orders: bool,
                        stream: bool, persistence: Persistence | None = None) -> Bot:
    """The live bot around loaded gateways: the traded instruments (perps only with the venue's own funding
    interval), the feed, paper venues or the gateways themselves, governor, strategies, ledger, executor. With
    ``persistence`` orders are written ahead, every tick is committed, paper venues keep journals, and
    ``recover_bot`` reconciles with the venues at start-up — exactly as for the replay."""
    import dataclasses

    from bot.clock import RealClock
    from bot.feeds.live import LivePollingFeed
    from bot.feeds.stream import LiveStreamFeed
    from bot.venues.fees import PERP_FEES, SPOT_FEES

    clock = RealClock()
    instruments: dict[str, Instrument] = {}
    for venue, gw in gateways.items():
        for base in settings.replay.bases:
            for symbol, fees in ((f"{base}/USDT", SPOT_FEES[venue]), (f"{base}/USDT:USDT", PERP_FEES[venue])):
                inst = gw.instruments.get(f"{venue}:{symbol}")
                if inst is None:
                    continue
                if inst.kind is InstrumentKind.PERP:  # the venue's own interval, or the perp is not traded
                    secs, source = await gw.resolve_funding_interval(inst.id)
                    if secs is None:
                        log.warning("live.funding_interval_unknown", instrument=inst.id)
                        continue
                    inst = gw.instruments[inst.id]
                    log.info("live.funding_interval", instrument=inst.id, secs=secs, source=source)
                instruments[inst.id] = dataclasses.replace(inst, fees=fees)
    feed: Any = LiveStreamFeed(gateways, instruments, clock) if stream else LivePollingFeed(gateways, instruments,
                                                                                             clock)
    pp = settings.paper
    params = PaperParams(initial_cash=pp.initial_balance_usd, latency_secs=pp.latency_ms / 1000,
                         slippage_bps=pp.slippage_bps, impact_bps_per_million_usd=pp.impact_bps_per_million_usd)
    p = persistence
    venues: dict[str, Any] = dict(gateways) if live_orders else {
        v: PaperVenue(v, instruments, clock, params,
                      PaperJournal(settings.data_dir / "paper" / f"{_safe(p.run_key)}.db", v) if p else None)
        for v in gateways}
    audit = RecordingAudit()
    governor = Governor(rules, instruments, audit, snapshot_step_secs=feed._tick if stream else feed._poll,
                        client_id_prefix=f"r{p.run_id}-" if p else "")
    strategies = make_strategies(settings, instruments, None)
    ledger = Ledger(initial_equity=pp.initial_balance_usd * Decimal(len(venues)))
    executor = Executor(feed.batches, venues, governor, strategies, ledger, clock, instruments,
                        settings.execution.entry_ttl_secs, recorder=p.recorder if p else None)
    audit.recorder = p.recorder if p else None
    return Bot(settings, rules, feed, instruments, venues, governor, audit, strategies, ledger, clock,  # type: ignore[arg-type]
               executor, p)
