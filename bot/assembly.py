"""One assembly: a bot built from a feed, a clock, settings, rules, optional gateways and an optional store.

Backtest, paper run on the bundled replay, paper or live trading on live data, and the stress scenarios all call
``assemble``; they differ only in the feed, the gateways and the clock they hand it (SPEC §1). Everything the
settings say about strategies, paper execution (latency, slippage, impact, partial fills, borrow) and execution
(entry TTL) is applied here, once, for every path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from bot.accounts import AccountMode, MarginMode
from bot.clock import Clock, PacedClock, SimClock
from bot.domain import NS_PER_SEC, Instrument, InstrumentKind
from bot.events import EventBus
from bot.execution.executor import Executor
from bot.feeds.bar_store import as_store
from bot.feeds.bars import load_bars
from bot.feeds.base import Feed
from bot.feeds.futures_gen import SyntheticFuturesFeed
from bot.feeds.replay import ReplayFeed, SpreadModel
from bot.governor import Governor, RulesConfig
from bot.governor.audit import MemoryAudit
from bot.ledger import Ledger
from bot.settings import Settings
from bot.strategies.allocator import AllocationPolicy
from bot.strategies.base import Strategy
from bot.strategies.borrow import BorrowCurve
from bot.strategies.s1_spot_perp import SpotPerpFunding
from bot.strategies.s2_cross_venue import CrossVenueFunding
from bot.strategies.s3_basis import SpotFuturesBasis
from bot.venues.fees import default_instruments, margin_tiers
from bot.venues.gateway import Gateway
from bot.venues.paper import PaperParams, PaperVenue
from bot.venues.paper_journal import PaperJournal
from bot.venues.paper_moments import IntrabarMoments

if TYPE_CHECKING:  # SQLAlchemy is imported only by runs that persist (backtests stay light)
    from bot.execution.recovery import RecoveryReport
    from bot.store.run import Persistence


@dataclass(slots=True)
class Bot:
    settings: Settings
    rules: RulesConfig
    feed: Feed
    instruments: dict[str, Instrument]
    venues: dict[str, Gateway]  # where orders go: paper venues, or the live gateways
    governor: Governor
    audit: MemoryAudit
    bus: EventBus
    strategies: list[Strategy]
    ledger: Ledger
    clock: Clock
    executor: Executor
    persistence: Persistence | None = None
    market_gateways: dict[str, Any] = field(default_factory=dict)  # live data connections (closed with the run)
    recovery: RecoveryReport | None = None


def borrow_curve(settings: Settings) -> BorrowCurve | None:
    return settings.borrow.curve if settings.borrow.enabled else None


def paper_params(
    settings: Settings, venue: str = "", instruments: Mapping[str, Instrument] | None = None
) -> PaperParams:
    """The paper execution and account model of ``venue`` (its account mode, margin modes and leverage tiers)."""
    pp = settings.paper
    ids = [iid for iid, i in (instruments or {}).items() if i.venue == venue and i.is_derivative]
    modes = {
        iid: MarginMode(pp.margin_modes[key])
        for iid in ids
        for key in (venue, iid)  # the instrument's own entry wins over its venue's
        if key in pp.margin_modes
    }
    return PaperParams(
        account_mode=AccountMode(pp.accounts.get(venue, "unified")),
        margin_mode=MarginMode(pp.margin_mode),
        margin_modes=modes,
        collateral_haircut=Decimal(repr(pp.collateral_haircut)),
        derivatives_share=Decimal(repr(pp.derivatives_share)),
        tiers=margin_tiers(dict(instruments or {})),
        initial_cash=pp.initial_balance_usd,
        latency_secs=pp.latency_ms / 1000,
        slippage_bps=pp.slippage_bps,
        impact_bps_per_million_usd=pp.impact_bps_per_million_usd,
        partial_fill_fraction=pp.partial_fill_fraction,
        borrow=borrow_curve(settings),
        borrow_margin_pct=settings.borrow.margin_pct,
    )


def allocation_policy(settings: Settings, rules: RulesConfig) -> AllocationPolicy | None:
    a, g7 = settings.strategy.allocation, rules.g7
    if not a.enabled:
        return None
    return AllocationPolicy(
        a.target_deploy_pct,
        a.split_reserve_pct,
        a.min_entry_usd,
        frozenset(a.strategies),
        g7.max_order_notional_usd,
        g7.max_gross_venue_usd,
        g7.max_gross_total_usd,
    )


def make_strategies(settings: Settings, instruments: Mapping[str, Instrument]) -> list[Strategy]:
    cfg, slip, borrow = settings.strategy, settings.paper.slippage_bps, borrow_curve(settings)

    def sized(name: str) -> bool:
        return cfg.allocation.enabled and name in cfg.allocation.strategies

    makers: dict[str, Callable[[], Strategy]] = {
        "s1": lambda: SpotPerpFunding(cfg.s1, instruments, slip, borrow, sized_by_allocator=sized("s1")),
        "s2": lambda: CrossVenueFunding(cfg.s2, instruments, slip),
        "s3": lambda: SpotFuturesBasis(cfg.s3, instruments, slip),
    }
    return [makers[name]() for name in cfg.active]


def journal_path(settings: Settings, run_key: str) -> Any:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in run_key)
    return settings.data_dir / "paper" / f"{safe}.db"


def assemble(
    settings: Settings,
    rules: RulesConfig,
    feed: Feed,
    clock: Clock,
    *,
    gateways: Mapping[str, Gateway] | None = None,
    persistence: Persistence | None = None,
    market_gateways: Mapping[str, Any] | None = None,
    initial_equity: Decimal | None = None,
) -> Bot:
    """The bot around ``feed`` and ``clock``. ``gateways``: where orders go (live trading); without them each venue
    of the feed's instruments gets a paper venue with the settings' execution model (journaled with a store).
    ``persistence``: orders are written ahead, every tick is committed, records reach the store."""
    instruments = dict(feed.instruments)
    p = persistence
    venues: dict[str, Gateway]
    if gateways is not None:
        venues = dict(gateways)
    else:
        names = sorted({i.venue for i in instruments.values()})
        moments = IntrabarMoments()  # a hedge of a fill inside a bar trades at that moment, on any paper venue
        paper = {
            v: PaperVenue(
                v,
                instruments,
                clock,
                paper_params(settings, v, instruments),
                PaperJournal(journal_path(settings, p.run_key), v) if p else None,
                moments,
            )
            for v in names
        }
        if p is not None:
            p.recorder.before_write.extend(venue.checkpoint for venue in paper.values())
        venues = dict(paper)
    audit = MemoryAudit()
    bus = EventBus([audit])
    if p is not None:
        bus.subscribe(p.recorder)
    governor = Governor(
        rules, instruments, snapshot_step_secs=feed.step_secs, client_id_prefix=f"r{p.run_id}-" if p else ""
    )
    strategies = make_strategies(settings, instruments)
    if initial_equity is None:  # paper: the simulated accounts' balances; live: the venues' (``assemble_live``)
        initial_equity = settings.paper.initial_balance_usd * Decimal(len(venues))
    ledger = Ledger(initial_equity=initial_equity)
    executor = Executor(
        feed.batches,
        venues,
        governor,
        strategies,
        ledger,
        clock,
        instruments,
        settings.execution.entry_ttl_secs,
        recorder=p.recorder if p else None,
        bus=bus,
        allocation=allocation_policy(settings, rules),
    )
    return Bot(
        settings,
        rules,
        feed,
        instruments,
        venues,
        governor,
        audit,
        bus,
        strategies,
        ledger,
        clock,
        executor,
        p,
        dict(market_gateways or {}),
    )


# --- the feeds and clocks of each path ---------------------------------------------------------------------------


def replay_feed(settings: Settings) -> ReplayFeed | SyntheticFuturesFeed:
    rp = settings.replay
    bars = load_bars(rp.file, rp.venues, rp.bases, rp.start, rp.end)
    # instruments, and so paper accounts, only where the data has prices: a one-venue history funds one account
    present = {(venue, base) for venue, base, _ in as_store(bars.bars).series}
    instruments = {
        iid: i for iid, i in default_instruments(rp.venues, rp.bases).items() if (i.venue, i.base) in present
    }
    feed = ReplayFeed(
        bars, instruments, SpreadModel(rp.half_spread_bps_spot, rp.half_spread_bps_perp, rp.spread_range_coef)
    )
    if "s3" in settings.strategy.active:  # the bundled history has no dated futures: generate them (labelled)
        return SyntheticFuturesFeed(feed, settings.futures, instruments)
    return feed


def build_bot(
    settings: Settings,
    rules: RulesConfig,
    clock_kind: Literal["sim", "paced"] = "sim",
    persistence: Persistence | None = None,
) -> Bot:
    """The replay bot (backtest: simulated clock; ``carrybot run``: paced). With ``persistence`` the clock starts
    at the run's resume point."""
    feed = replay_feed(settings)
    start_ns, end_ns = feed.ts_range_ns
    resume_ns = persistence.cursor_ns if persistence is not None else None
    clock_start = resume_ns if resume_ns is not None else start_ns
    clock: Clock
    if clock_kind == "paced" and settings.replay.pace_secs > 0 and end_ns > start_ns:
        clock = PacedClock(clock_start, (end_ns - start_ns) / NS_PER_SEC / settings.replay.pace_secs)
    else:
        clock = SimClock(clock_start)
    return assemble(settings, rules, feed, clock, persistence=persistence)


async def live_instruments(settings: Settings, gateways: Mapping[str, Any]) -> dict[str, Instrument]:
    """The traded instruments of loaded gateways: spot and perps of the configured bases, perps only with the
    venue's own funding interval, with this bot's fee schedule."""
    import dataclasses

    from bot.logs import get_logger
    from bot.venues.fees import PERP_FEES, SPOT_FEES

    log = get_logger(__name__)
    out: dict[str, Instrument] = {}
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
                out[inst.id] = dataclasses.replace(inst, fees=fees)
    return out


async def assemble_live(
    settings: Settings,
    rules: RulesConfig,
    gateways: Mapping[str, Any],
    live_orders: bool,
    stream: bool,
    persistence: Persistence | None = None,
) -> Bot:
    """Paper trading on live public data (``live_orders=False``: simulated fills on the settings' execution model)
    or live trading through the gateways (``live_orders=True``). Same assembly; only feed, gateways, clock differ.
    ``stream``: websocket watchers (ccxt.pro) with REST where a venue streams nothing; else REST polling."""
    from bot.clock import RealClock
    from bot.feeds.live import LivePollingFeed
    from bot.feeds.stream import LiveStreamFeed

    clock = RealClock()
    instruments = await live_instruments(settings, gateways)
    feed: Feed = (
        LiveStreamFeed(gateways, instruments, clock)
        if stream
        else LivePollingFeed(gateways, instruments, clock, poll_secs=settings.execution.live_poll_secs)
    )
    initial_equity = None
    venues: dict[str, Any] | None = None
    if live_orders:
        shadow = settings.mode == "shadow"
        from bot.live_accounts import prepare_live_accounts

        initial_equity = await prepare_live_accounts(settings, rules, gateways, instruments, persistence, not shadow)
        venues = dict(gateways)
        if shadow:  # the real account read, nothing sent
            from bot.venues.shadow import ShadowGateway

            venues = {v: ShadowGateway(gw) for v, gw in gateways.items()}
    return assemble(
        settings,
        rules,
        feed,
        clock,
        gateways=venues,
        persistence=persistence,
        market_gateways=gateways,
        initial_equity=initial_equity,
    )


async def build_live_bot(
    settings: Settings,
    rules: RulesConfig,
    live_orders: bool,
    stream: bool = True,
    persistence: Persistence | None = None,
) -> Bot:
    """Connect the configured venues (keys only for live orders), load their markets, assemble the live bot."""
    from bot.venues.ccxt_gateway import CcxtGateway
    from bot.venues.fees import PERP_FEES

    gateways: dict[str, CcxtGateway] = {}
    try:
        for venue in settings.replay.venues:
            cred = settings.exchanges.get(venue)
            keys = (
                {}
                if cred is None or not live_orders
                else {
                    "api_key": cred.api_key.get_secret_value(),
                    "secret": cred.secret.get_secret_value(),
                    "password": cred.password.get_secret_value() if cred.password else "",
                }
            )
            gw = CcxtGateway.create(
                venue,
                PERP_FEES[venue],
                sandbox=bool(cred and cred.sandbox),
                stream=stream,
                api_url=cred.api_url if cred else "",
                **keys,
            )
            gateways[venue] = gw
            await gw.load()
        return await assemble_live(settings, rules, gateways, live_orders, stream, persistence)
    except BaseException:  # nothing left open behind a failed start (ccxt's "Unclosed client session")
        for g in gateways.values():
            await g.close()
        raise


async def recover_bot(bot: Bot) -> None:
    """After a restart: reconcile the store with the venues, rebuild the ledger, restore the governor."""
    from bot.execution.recovery import recover

    p = bot.persistence
    assert p is not None
    bot.recovery = await recover(p.store, p.run_id, bot.executor, p.cursor_ns)
