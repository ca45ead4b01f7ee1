"""What a run counts as it goes (ticks, orders, fills, funding, unhedged delta), read by reports and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bot.domain import Fill, FundingPayment
from bot.execution.equity import EquityTrack

__all__ = ["ExecutorStats"]


@dataclass(slots=True)
class ExecutorStats:
    ticks: int = 0
    snapshots: int = 0
    intents: int = 0
    orders_sent: int = 0
    fills: int = 0
    liquidations: int = 0
    funding_payments: int = 0
    ladder_events: int = 0
    borrow_charges: int = 0
    entries_expired: int = 0
    suspect_prints: int = 0  # prints the price guard held back (never used as marks)
    max_unhedged_usd: float = 0.0  # largest seen by the governor at the start of a tick
    tick_end_unhedged_max: float = 0.0  # largest left at the end of a tick
    ticks_unhedged: int = 0  # ticks that ended with more than g9.max_unhedged_usd of delta
    unhedged_intervals: int = 0  # closed intervals a lead leg stood filled ahead of its hedge
    unhedged_secs_max: float = 0.0  # the longest, from the lead's fill to the fill that closed the gap
    unhedged_secs_total: float = 0.0
    rejections: Counter[str] = field(default_factory=Counter)
    allocation: Counter[str] = field(default_factory=Counter)  # entries the allocator dropped, by reason
    transfers: Counter[str] = field(default_factory=Counter)  # by outcome at the venue (done / rejected)
    transferred_usd: float = 0.0  # USDT moved by transfers the venues carried out (moves no equity)
    equity: EquityTrack = field(default_factory=EquityTrack, repr=False)
    fills_log: list[Fill] = field(default_factory=list, repr=False)
    funding_log: list[FundingPayment] = field(default_factory=list, repr=False)
