"""Assembly: settings + rules → feed, paper venues, governor, strategies, ledger, executor. One code path for
``run`` (paced clock) and ``backtest`` (simulated clock)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.clock import Clock, PacedClock, SimClock
from bot.domain import NS_PER_SEC, Instrument
from bot.execution.executor import Executor
from bot.feeds.bars import load_bars
from bot.feeds.futures_gen import SyntheticFuturesFeed
from bot.feeds.replay import ReplayFeed, SpreadModel
from bot.governor import Governor, RulesConfig
from bot.governor.audit import MemoryAudit
from bot.ledger import Ledger
from bot.settings import Settings
from bot.strategies.base import Strategy
from bot.strategies.borrow import BorrowCurve
from bot.strategies.s1_spot_perp import SpotPerpFunding
from bot.strategies.s2_cross_venue import CrossVenueFunding
from bot.strategies.s3_basis import SpotFuturesBasis
from bot.venues.fees import default_instruments
from bot.venues.paper import PaperParams, PaperVenue


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


def make_strategies(settings: Settings, instruments: dict[str, Instrument],
                    borrow: BorrowCurve | None) -> list[Strategy]:
    cfg, slip = settings.strategy, settings.paper.slippage_bps
    makers = {
        "s1": lambda: SpotPerpFunding(cfg.s1, instruments, slip, borrow),
        "s2": lambda: CrossVenueFunding(cfg.s2, instruments, slip),
        "s3": lambda: SpotFuturesBasis(cfg.s3, instruments, slip),
    }
    return [makers[name]() for name in cfg.active]


def build_bot(settings: Settings, rules: RulesConfig, clock_kind: Literal["sim", "paced"] = "sim") -> Bot:
    rp = settings.replay
    instruments = default_instruments(rp.venues, rp.bases)
    bars = load_bars(rp.file, rp.venues, rp.bases, rp.start, rp.end)
    feed: ReplayFeed | SyntheticFuturesFeed = ReplayFeed(
        bars, instruments, SpreadModel(rp.half_spread_bps_spot, rp.half_spread_bps_perp, rp.spread_range_coef))
    if "s3" in settings.strategy.active:  # the bundled history has no dated futures: generate them (labelled)
        feed = SyntheticFuturesFeed(feed, settings.futures, instruments)
        instruments = dict(feed.instruments)
    start_ns, end_ns = feed.ts_range_ns
    clock: Clock
    if clock_kind == "paced" and settings.replay.pace_secs > 0 and end_ns > start_ns:
        clock = PacedClock(start_ns, (end_ns - start_ns) / NS_PER_SEC / settings.replay.pace_secs)
    else:
        clock = SimClock(start_ns)
    pp = settings.paper
    borrow = settings.borrow.curve if settings.borrow.enabled else None
    params = PaperParams(initial_cash=pp.initial_balance_usd, latency_secs=pp.latency_ms / 1000,
                         slippage_bps=pp.slippage_bps, impact_bps_per_million_usd=pp.impact_bps_per_million_usd,
                         partial_fill_fraction=pp.partial_fill_fraction, borrow=borrow,
                         borrow_margin_pct=settings.borrow.margin_pct)
    venues = {v: PaperVenue(v, instruments, clock, params) for v in rp.venues}
    audit = MemoryAudit()
    governor = Governor(rules, instruments, audit)
    strategies = make_strategies(settings, instruments, borrow)
    ledger = Ledger(initial_equity=pp.initial_balance_usd * Decimal(len(venues)))
    executor = Executor(feed.batches, venues, governor, strategies, ledger, clock, instruments,
                        settings.execution.entry_ttl_secs)
    return Bot(settings, rules, feed, instruments, venues, governor, audit, strategies, ledger, clock, executor)
