"""What a backtest watches tick by tick, beyond the executor's own counters: a timeline for the charts (equity,
exposure, leverage against the G1 cap, cumulative funding, ladder stage, blackout, trading state) and the round
trips for win rate and expectancy. It only reads; it never changes what the bot does."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain import MarketBatch
from bot.execution.executor import Executor

ZERO = Decimal(0)


@dataclass(slots=True)
class Timeline:
    ts_ns: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    gross_usd: list[float] = field(default_factory=list)
    leverage: list[float] = field(default_factory=list)
    leverage_cap: list[float | None] = field(default_factory=list)
    funding: list[float] = field(default_factory=list)
    ladder_stage: list[int] = field(default_factory=list)
    blackout: list[bool] = field(default_factory=list)
    state: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    base: str
    opened_ns: int
    closed_ns: int
    pnl: float  # price PnL at mid + funding − fees − spread − slippage of every leg of the base, USD


class RunObserver:
    """Call once per tick, after the executor's step (``Executor.run(on_tick=observer)``)."""

    def __init__(self) -> None:
        self.timeline = Timeline()
        self.round_trips: list[RoundTrip] = []
        self._open: dict[str, tuple[int, Decimal]] = {}  # base -> (opened at, its legs' booked total then)
        self._closed_at: dict[str, Decimal] = {}  # base -> its legs' booked total at its last close

    def __call__(self, batch: MarketBatch, ex: Executor) -> None:
        tl = self.timeline
        gov = ex.governor
        market = ex.market
        gross = 0.0
        held: dict[str, float] = {}
        for iid, book in ex.ledger.legs.items():
            if book.fqty:
                gross += abs(book.fqty) * market[iid].mark
                base = ex.instruments[iid].base
                held[base] = held.get(base, 0.0) + abs(book.fqty)
        equity = ex.stats.equity_curve[-1][1] if ex.stats.equity_curve else float(ex.ledger.initial_equity)
        reads = gov.reads
        derivs = [iid for iid, b in ex.ledger.legs.items() if b.fqty and ex.instruments[iid].is_derivative] or [
            s.instrument_id for s in batch.snapshots if ex.instruments[s.instrument_id].is_derivative]
        cap = min((reads.leverage(iid).max_leverage for iid in derivs), default=None)
        tl.ts_ns.append(batch.ts_ns)
        tl.equity.append(equity)
        tl.gross_usd.append(gross)
        tl.leverage.append(gross / equity if equity > 0 else 0.0)
        tl.leverage_cap.append(cap)
        tl.funding.append(float(ex.ledger.funding))
        tl.ladder_stage.append(max(gov.ladders.snapshot().values(), default=0))
        tl.blackout.append(reads.phase.in_blackout)
        tl.state.append(gov.trading_state.value)
        self._round_trips(batch.ts_ns, ex, held)

    def _booked(self, ex: Executor, base: str) -> Decimal:
        led = ex.ledger
        total = ZERO
        for iid, book in led.legs.items():
            if ex.instruments[iid].base == base:
                total += (book.realized + led.funding_by_leg.get(iid, ZERO) - led.fees_by_leg.get(iid, ZERO)
                          - led.costs_by_leg.get(iid, ZERO))
        return total

    def _round_trips(self, ts_ns: int, ex: Executor, held: dict[str, float]) -> None:
        # A flat base's booked total moves only by fills (funding is paid on held positions), so the baseline of a
        # new round trip is the total at the previous close: the round trips then add up to the booked total.
        for base in held.keys() - self._open.keys():
            self._open[base] = (ts_ns, self._closed_at.get(base, ZERO))
        for base in self._open.keys() - held.keys():
            opened, booked = self._open.pop(base)
            now = self._closed_at[base] = self._booked(ex, base)
            self.round_trips.append(RoundTrip(base, opened, ts_ns, float(now - booked)))

    def open_round_trips(self, ex: Executor) -> list[RoundTrip]:
        """Round trips still open at the end, marked to market (reported apart; not in the win rate)."""
        marks = ex.marks
        unreal = ex.ledger.unrealized_by_leg(marks)
        out = []
        for base, (opened, booked) in sorted(self._open.items()):
            u = sum((v for iid, v in unreal.items() if ex.instruments[iid].base == base), ZERO)
            out.append(RoundTrip(base, opened, ex.clock.now_ns(), float(self._booked(ex, base) - booked + u)))
        return out
