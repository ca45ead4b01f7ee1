"""What a backtest watches tick by tick, beyond the executor's own counters: a timeline for the charts (equity,
exposure, leverage against the G1 cap, cumulative funding, ladder stage, blackout, trading state) and the round
trips for win rate and expectancy. It only reads; it never changes what the bot does."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.domain import MarketBatch
from bot.execution.executor import Executor

ZERO = Decimal(0)


class Timeline:
    """Samples for the charts in bounded memory: every tick until ``max_points`` × 2 samples, then every other
    sample is dropped and the stride doubles (uniform coverage of any run length). Ladder stage, blackout and trading
    state are also kept as change points at full resolution, so a one-tick stage is never sampled away."""

    def __init__(self, max_points: int = 20_000) -> None:
        self.max_points = max_points
        self.stride = 1
        self._n = 0
        self.ts_ns: list[int] = []
        self.equity: list[float] = []
        self.gross_usd: list[float] = []
        self.leverage: list[float] = []
        self.leverage_cap: list[float | None] = []
        self.funding: list[float] = []
        self.ladder_stage: list[int] = []
        self.stage_changes: list[tuple[int, int]] = []
        self.blackout_changes: list[tuple[int, bool]] = []
        self.state_changes: list[tuple[int, str]] = []
        self.last_ts_ns = 0

    def __len__(self) -> int:
        return len(self.ts_ns)

    @staticmethod
    def _change(changes: list, ts: int, value: object) -> None:  # type: ignore[type-arg]
        if (changes[-1][1] if changes else None) != value:
            changes.append((ts, value))

    def add(
        self,
        ts: int,
        equity: float,
        gross: float,
        leverage: float,
        cap: float | None,
        funding: float,
        stage: int,
        blackout: bool,
        state: str,
    ) -> None:
        self._change(self.stage_changes, ts, stage)
        self._change(self.blackout_changes, ts, blackout)
        self._change(self.state_changes, ts, state)
        self.last_ts_ns = ts
        self._n += 1
        if (self._n - 1) % self.stride:
            return
        self.ts_ns.append(ts)
        self.equity.append(equity)
        self.gross_usd.append(gross)
        self.leverage.append(leverage)
        self.leverage_cap.append(cap)
        self.funding.append(funding)
        self.ladder_stage.append(stage)
        if len(self.ts_ns) >= 2 * self.max_points:
            for name in ("ts_ns", "equity", "gross_usd", "leverage", "leverage_cap", "funding", "ladder_stage"):
                setattr(self, name, getattr(self, name)[::2])
            self.stride *= 2

    def spans(self, changes: list[tuple[int, object]]) -> list[tuple[int, int, object]]:
        """(start, end, value) for every run of a truthy value, ends at the next change (or the last tick)."""
        out = []
        for k, (ts, v) in enumerate(changes):
            end = changes[k + 1][0] if k + 1 < len(changes) else self.last_ts_ns
            if v:
                out.append((ts, end, v))
        return out


@dataclass(frozen=True, slots=True)
class RoundTrip:
    base: str
    opened_ns: int
    closed_ns: int
    pnl: float  # price PnL at mid + funding − fees − spread − slippage of every leg of the base, USD
    funding: float = 0.0  # of which funding
    costs: float = 0.0  # of which fees, spread and slippage (positive = paid)
    venue: str = ""


@dataclass(slots=True)
class Deployment:
    """Time integrals over the run, exact at every tick (not sampled): perp notional held, capital left idle in the
    venue accounts, equity. Each tick's values stand until the next tick."""

    secs: float = 0.0
    perp_notional: float = 0.0  # ∫ Σ|perp qty × mark| dt
    idle: float = 0.0  # ∫ Σ venue idle capital dt
    equity: float = 0.0  # ∫ equity dt
    known: bool = True  # every venue reported its account (idle capital is known)
    last_ts: int | None = None
    last: tuple[float, float, float] = (0.0, 0.0, 0.0)
    last_idle_usd: float = 0.0
    peak_pair_notional: float = 0.0  # the largest |qty × mark| held on one perp at any tick

    def add(
        self, ts_ns: int, perp_notional: float, idle: float | None, equity: float, largest_perp: float = 0.0
    ) -> None:
        self.peak_pair_notional = max(self.peak_pair_notional, largest_perp)
        if self.last_ts is not None:
            dt = (ts_ns - self.last_ts) / 1e9
            n, i, e = self.last
            self.secs += dt
            self.perp_notional += n * dt
            self.idle += i * dt
            self.equity += e * dt
        if idle is None:
            self.known = False
        self.last_ts = ts_ns
        self.last = (perp_notional, idle or 0.0, equity)
        self.last_idle_usd = idle or 0.0

    def mean(self, name: str) -> float:
        return getattr(self, name) / self.secs if self.secs > 0 else 0.0


class RunObserver:
    """Call once per tick, after the executor's step (``Executor.run(on_tick=observer)``)."""

    def __init__(self) -> None:
        self.timeline = Timeline()
        self.deployment = Deployment()
        self.round_trips: list[RoundTrip] = []
        # "venue:base" -> (opened at, its legs' booked (total, funding, costs) then); the same at its last close
        self._open: dict[str, tuple[int, tuple[Decimal, Decimal, Decimal]]] = {}
        self._closed_at: dict[str, tuple[Decimal, Decimal, Decimal]] = {}

    def __call__(self, batch: MarketBatch, ex: Executor) -> None:
        tl = self.timeline
        gov = ex.governor
        market = ex.market
        gross = perp_notional = largest = 0.0
        held: dict[str, float] = {}
        for iid, book in ex.ledger.legs.items():
            if book.fqty:
                value = abs(book.fqty) * market[iid].mark
                gross += value
                if ex.instruments[iid].is_derivative:
                    perp_notional += value
                    largest = max(largest, value)
                inst = ex.instruments[iid]
                key = f"{inst.venue}:{inst.base}"  # a round trip is one venue's position in one base
                held[key] = held.get(key, 0.0) + abs(book.fqty)
        equity = ex.stats.equity.last
        states = ex.account_states()
        idle = sum(st.idle for st in states.values()) if len(states) == len(ex.gateways) else None
        self.deployment.add(batch.ts_ns, perp_notional, idle, equity, largest)
        reads = ex.reads if ex.reads is not None else gov.reads_at(ex.market, batch.ts_ns)
        derivs = [iid for iid, b in ex.ledger.legs.items() if b.fqty and ex.instruments[iid].is_derivative] or [
            s.instrument_id for s in batch.snapshots if ex.instruments[s.instrument_id].is_derivative
        ]
        cap = min((reads.leverage(iid).max_leverage for iid in derivs), default=None)
        tl.add(
            batch.ts_ns,
            equity,
            gross,
            gross / equity if equity > 0 else 0.0,
            cap,
            float(ex.ledger.funding),
            max(gov.ladders.snapshot().values(), default=0),
            reads.phase.in_blackout,
            gov.trading_state.value,
        )
        self._round_trips(batch.ts_ns, ex, held)

    def _booked(self, ex: Executor, key: str) -> tuple[Decimal, Decimal, Decimal]:
        """The booked total of the legs of ``venue:base``, and of it funding and costs (fees, spread, slippage)."""
        led = ex.ledger
        total = funding = costs = ZERO
        for iid, book in led.legs.items():
            inst = ex.instruments[iid]
            if f"{inst.venue}:{inst.base}" == key:
                f = led.funding_by_leg.get(iid, ZERO)
                c = led.fees_by_leg.get(iid, ZERO) + led.costs_by_leg.get(iid, ZERO)
                total += book.realized + f - c
                funding += f
                costs += c
        return total, funding, costs

    def _round_trips(self, ts_ns: int, ex: Executor, held: dict[str, float]) -> None:
        # A flat position's booked total moves only by fills (funding is paid on held positions), so the baseline of
        # a new round trip is the total at the previous close: the round trips then add up to the booked total.
        # in key order: round trips closed on the same tick are reported in the same order on every run (a set's
        # order follows string hashing, which changes from one process to the next)
        for key in sorted(held.keys() - self._open.keys()):
            self._open[key] = (ts_ns, self._closed_at.get(key, (ZERO, ZERO, ZERO)))
        for key in sorted(self._open.keys() - held.keys()):
            opened, (t0, f0, c0) = self._open.pop(key)
            now = self._closed_at[key] = self._booked(ex, key)
            venue, base = key.split(":")
            self.round_trips.append(
                RoundTrip(base, opened, ts_ns, float(now[0] - t0), float(now[1] - f0), float(now[2] - c0), venue)
            )

    def open_round_trips(self, ex: Executor) -> list[RoundTrip]:
        """Round trips still open at the end, marked to market (reported apart; not in the win rate)."""
        marks = ex.marks
        unreal = ex.ledger.unrealized_by_leg(marks)
        out = []
        for key, (opened, (t0, f0, c0)) in sorted(self._open.items()):
            venue, base = key.split(":")
            u = sum(
                (
                    v
                    for iid, v in unreal.items()
                    if (ex.instruments[iid].venue, ex.instruments[iid].base) == (venue, base)
                ),
                ZERO,
            )
            now = self._booked(ex, key)
            out.append(
                RoundTrip(
                    base,
                    opened,
                    ex.clock.now_ns(),
                    float(now[0] - t0 + u),
                    float(now[1] - f0),
                    float(now[2] - c0),
                    venue,
                )
            )
        return out
