"""The executor: the async loop that ties feed → strategies → governor → gateways → ledger (SPEC §1).

Per tick: wait for the tick's time on the clock; let each gateway see the market (the paper venue matches, settles
funding and liquidates on it); apply venue events to the ledger; let the governor update the trading state and
issue its own risk intents; ask the strategies; send every intent through ``Governor.decide`` and only the orders
of its decision to the gateways. Live, paper and backtest differ only in the feed, the gateways and the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.accounts import AccountState
from bot.clock import Clock
from bot.decisions import Decision, StateTransition, TradingState, TransferDecision
from bot.domain import (
    NS_PER_SEC,
    Fill,
    Instrument,
    IntentLeg,
    MarketBatch,
    MarketSnapshot,
    Order,
    OrderIntent,
    OrderStatus,
    Purpose,
    TransferIntent,
    to_decimal,
)
from bot.events import DecisionMade, EventBus, OrderSent, TickClosed, TransferDecided
from bot.execution.account import account_view
from bot.execution.booking import Booking
from bot.execution.margin_manager import topup_intents
from bot.execution.pairs import PairBook
from bot.execution.stats import ExecutorStats
from bot.feeds.guard import GuardBounds, PriceGuard
from bot.governor import Governor
from bot.governor.context import AccountView, TickReads
from bot.governor.engine import TickResult
from bot.governor.watch import unhedged_by_base
from bot.ledger import Ledger
from bot.logs import get_logger
from bot.strategies.allocator import AllocationPolicy, allocate, venue_slots
from bot.strategies.base import Strategy, StrategyView
from bot.venues.gateway import Gateway

if TYPE_CHECKING:  # the store (SQLAlchemy) is loaded only by runs that persist
    from bot.firm.gate import FirmGate
    from bot.store.recorder import Recorder

log = get_logger(__name__)

_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


class Executor:
    def __init__(
        self,
        feed_batches: Callable[[], AsyncIterator[MarketBatch]],
        gateways: Mapping[str, Gateway],
        governor: Governor,
        strategies: Sequence[Strategy],
        ledger: Ledger,
        clock: Clock,
        instruments: Mapping[str, Instrument],
        entry_ttl_secs: float = 9 * 3600,
        recorder: Recorder | None = None,
        guard: PriceGuard | None = None,
        bus: EventBus | None = None,
        allocation: AllocationPolicy | None = None,
    ) -> None:
        self._batches = feed_batches
        g6 = governor.cfg.g6
        self.guard = guard or PriceGuard(
            instruments, GuardBounds(g6.guard_jump_pct, g6.guard_cross_pct, g6.guard_confirm_prints)
        )
        self.gateways = dict(gateways)
        self.governor = governor
        self.strategies = tuple(strategies)
        self.ledger = ledger
        self.clock = clock
        self.instruments = instruments
        self.bus = bus if bus is not None else EventBus()  # every decision, fill, payment... is published here once
        self.market: dict[str, MarketSnapshot] = {}
        self.stats = ExecutorStats()
        self.stats.equity.begin(float(ledger.initial_equity))
        self.entry_ttl_secs = entry_ttl_secs
        self.leverage: dict[str, int] = {}  # leverage last set per derivative instrument
        self.pairs = PairBook(instruments)
        self.reads: TickReads | None = None  # what the governor read this tick (its intents are decided on it)
        self.booking = Booking(ledger, self.pairs, governor, clock, self.market, self.stats, self.bus)
        self.orders = self.booking.orders  # every order sent; the working ones; those awaiting their fills
        self.working = self.booking.working
        self.awaiting_fills = self.booking.awaiting_fills
        self._stop = asyncio.Event()
        self.recorder = recorder  # the store: orders are written ahead through it and every tick is committed
        self.resume_after_ns: int | None = None  # set by recovery: ticks up to here only warm the signals up
        self._venue_of = {iid: inst.venue for iid, inst in instruments.items()}
        self.allocation = allocation  # None: each strategy sizes its own entries
        self._slots = venue_slots([v for s in self.strategies for v in s.opportunity_venues()]) if allocation else {}
        self.last_tick_wall = time.monotonic()
        self.operator_intents: list[OrderIntent] = []  # an operator's flatten/reduce, sent at the next tick
        self._view: tuple[tuple[object, ...], AccountView] | None = None
        self.firm: FirmGate | None = None  # the firm-wide budget: entries reserve their share before write-ahead

    def stop(self) -> None:
        """Ask the loop to finish after the current tick."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def run(self, on_tick: Callable[[MarketBatch, Executor], None] | None = None) -> ExecutorStats:
        async for batch in self._batches():
            if self.resume_after_ns is not None and batch.ts_ns <= self.resume_after_ns:
                self.warm(batch)
                continue
            await self.clock.sleep_until(batch.ts_ns)
            await self.step(batch)
            if on_tick is not None:
                on_tick(batch, self)
            if self._stop.is_set():
                break
        return self.stats

    def warm(self, batch: MarketBatch) -> None:
        """Replay a tick that happened before a restart: market, signals and strategy state only — no orders."""
        batch = self.guard.screen(batch)
        self.guard.take_flagged()
        for snap in batch.snapshots:
            self.market[snap.instrument_id] = snap
        self.governor.observe(batch)
        view = StrategyView(self.market, {}, frozenset())
        for strategy in self.strategies:
            strategy.on_batch(batch, view, batch.ts_ns)  # rebuilds its windows; its intents are not acted on

    # --- one tick, in the order a reader should follow it ----------------------------------------------------------
    async def step(self, batch: MarketBatch) -> None:
        t0 = time.perf_counter()
        batch = self._screen(batch)
        self._observe(batch)
        await self._release_hedges()
        now = self.clock.now_ns()
        await self._housekeeping(now)
        res = await self._govern(now)
        if self.recorder is not None and not self.recorder.healthy:
            await self.recorder.flush()  # retry the backlog before deciding anything new
        await self._operator_orders()
        await self._risk_orders(res)
        await self._strategy_orders(batch, now)
        self._close_tick(batch, t0)
        if self.recorder is not None:
            await self.commit(batch.ts_ns)
        if self.firm is not None:
            await self.report_to_firm()
        self.last_tick_wall = time.monotonic()

    def _screen(self, batch: MarketBatch) -> MarketBatch:
        """The price guard, before anything sees the batch: a broken print never becomes a mark."""
        batch = self.guard.screen(batch)
        if self.guard.recent:
            prints = self.guard.take_flagged()
            self.stats.suspect_prints += len(prints)
            for p in prints:
                self.bus.publish(p)
        return batch

    def _observe(self, batch: MarketBatch) -> None:
        """Marks, the gateways' view of the market (the paper venue matches and settles here), the signals."""
        self.stats.ticks += 1
        self.stats.snapshots += len(batch.snapshots)
        for snap in batch.snapshots:
            self.market[snap.instrument_id] = snap
        for gw in self.gateways.values():
            gw.observe(batch)
        self.governor.observe(batch)
        self._drain()

    async def _release_hedges(self) -> None:
        """Hedge legs released by lead fills since the last tick (part of a decision already approved)."""
        if self.booking.released:
            await self._send(self.booking.take_released())

    async def _housekeeping(self, now: int) -> None:
        if self.pairs.pairs:
            self.pairs.refresh(self._held())
        if self.working:
            await self._expire_entries(now)
        await self._manage_margin(now)

    async def _manage_margin(self, now: int) -> None:
        """Idle collateral to the perp legs that need it, before the governor reads the ladders (transfers pass
        the governor like orders; at most two steps per venue per tick: spot → derivatives, then → isolated)."""
        for gw in self.gateways.values():
            await gw.refresh_account(now)  # a live venue's wallets and margin, when due
        for step in range(2):
            intents = topup_intents(self.account_states(), self.governor.cfg.g2, now, step)
            if not intents:
                return
            for intent in intents:
                await self.submit_transfer(intent)

    async def submit_transfer(self, intent: TransferIntent) -> TransferDecision:
        """The only way a transfer reaches a venue: the governor decides, and only its approved transfer is sent."""
        decision = self.governor.decide_transfer(intent, self.account_view(), self.clock.now_ns())
        self.bus.publish(TransferDecided(decision))
        if decision.transfer is not None:
            await self.gateways[intent.venue].transfer(decision.transfer)
            self._drain()
        return decision

    def account_states(self) -> dict[str, AccountState]:
        """Each venue's account as its gateway reports it (venues that cannot say are left out)."""
        return {v: st for v, gw in self.gateways.items() if (st := gw.account_state()) is not None}

    async def _govern(self, now: int) -> TickResult:
        """The governor moves the trading state and the ladders and says what must be cancelled first."""
        res = self.governor.on_tick(self.account_view(), self.market, now)
        self.reads = res.reads
        tr = res.transition
        if tr is not None:
            self._transition(tr)
            if tr.to_state is TradingState.HALTED:
                await self.cancel_all()
        for ev in res.ladder_events:
            self.stats.ladder_events += 1
            log.info(
                "governor.ladder",
                key=ev.key,
                measure=ev.measure,
                from_stage=ev.from_stage,
                to_stage=ev.to_stage,
                value=ev.value,
            )
            self.bus.publish(ev)
        if res.unhedged_usd:
            self.stats.max_unhedged_usd = max(self.stats.max_unhedged_usd, max(res.unhedged_usd.values()))
        if res.cancel_instruments:
            await self.cancel_where(res.cancel_instruments)
        return res

    async def _operator_orders(self) -> None:
        """An operator's orders go first, through the same door."""
        if self.operator_intents:
            pending, self.operator_intents = self.operator_intents, []
            for intent in pending:
                await self.submit_intent(intent)

    async def _risk_orders(self, res: TickResult) -> None:
        """The governor's own intents: risk invalidation acts before the strategies see the tick."""
        for intent in res.intents:
            decision = await self.submit_intent(intent)
            fallback = res.fallbacks.get(intent.intent_id)
            if fallback is not None and not self.booking.fully_filled(decision):
                await self.cancel_where({o.instrument_id for o in decision.orders})
                await self.submit_intent(replace(fallback, legs=self._still_open(fallback)))

    async def _strategy_orders(self, batch: MarketBatch, now: int) -> None:
        if self.governor.trading_state is TradingState.HALTED:
            return
        gates = self.governor.entry_gates(self.account_view(), self.reads, self.market, now)
        busy = {o.instrument_id for o in self.working.values()} | self.booking.awaiting_instruments(now)
        view = StrategyView(self.market, self._held(), busy, gates)
        intents = [i for strategy in self.strategies for i in strategy.on_batch(batch, view, now)]
        if self.allocation is not None and intents:
            intents = allocate(
                intents,
                self.instruments,
                self.market,
                self.account_states(),
                self._slots,
                self.allocation,
                self.stats.allocation,
                view.positions,
                gates.leverage_room_usd,
            )
        for intent in intents:
            await self.submit_intent(intent)

    def _close_tick(self, batch: MarketBatch, t0: float) -> None:
        """Equity and the delta left at the end of the tick (what G9 measures, in USD at mark)."""
        st = self.stats
        equity = self.ledger.equity_estimate(self._mark_of)
        st.equity.add(batch.ts_ns, equity)
        worst = 0.0
        if self.ledger.legs:
            positions = {iid: b.fqty for iid, b in self.ledger.legs.items() if b.fqty}
            worst = max(unhedged_by_base(positions, self.instruments, self._mark_of).values(), default=0.0)
            st.tick_end_unhedged_max = max(st.tick_end_unhedged_max, worst)
            if worst > self.governor.cfg.g9.max_unhedged_usd:
                st.ticks_unhedged += 1
        idle = {v: st.idle for v, st in self.account_states().items()}
        self.bus.publish(TickClosed(batch.ts_ns, equity, worst, time.perf_counter() - t0, idle))

    def _held(self) -> dict[str, Decimal]:
        """Positions a strategy can trade: a remainder below the venue's minimum order (the dust a venue's fee in the
        coin or its lot rounding leaves) is valued in the ledger but is no position to close or hedge."""
        return {k: b.qty for k, b in self.ledger.legs.items() if b.qty and abs(b.qty) >= self.instruments[k].min_qty}

    def _transition(self, tr: StateTransition) -> None:
        log.warning(
            "governor.state",
            from_state=tr.from_state.value,
            to_state=tr.to_state.value,
            rule=tr.rule,
            code=tr.code,
            **_plain(tr.inputs),
        )
        self.bus.publish(tr)

    def set_trading_state(self, to: TradingState, origin: str, reason: str) -> StateTransition | None:
        """An operator's or the watchdog's state change, published like the governor's own."""
        tr = self.governor.set_state(to, self.clock.now_ns(), origin, reason)
        if tr is not None:
            self._transition(tr)
        return tr

    async def commit(self, cursor_ns: int | None) -> None:
        """Close the tick in the store: its records, positions, pairs, governor state and cursor, in one go."""
        if self.recorder is None:
            return
        marks = self.marks
        positions = {k: (b.qty, b.avg_cost) for k, b in self.ledger.legs.items()}
        pairs = self.pairs.records(self.clock.now_ns())
        equity = self.ledger.equity(marks) if all(k in marks for k in self.ledger.legs) else None
        await self.recorder.commit(
            cursor_ns, self.clock.now_ns(), equity, positions, self.governor.export_state(), pairs
        )

    def _still_open(self, intent: OrderIntent) -> tuple[IntentLeg, ...]:
        """The intent's legs cut to what the ledger still holds (a fallback must not over-close)."""
        legs = []
        for leg in intent.legs:
            held = abs(self.ledger.qty(leg.instrument_id))
            if held > 0:
                legs.append(replace(leg, qty=min(leg.qty, held)))
        return tuple(legs) or intent.legs

    def _mark_of(self, instrument_id: str) -> float:
        return self.market[instrument_id].mark

    @property
    def marks(self) -> dict[str, Decimal]:
        """Exact marks for accounting (the latest snapshot's mark of every instrument seen)."""
        return {iid: to_decimal(s.mark) for iid, s in self.market.items()}

    async def _expire_entries(self, now: int) -> None:
        """Entry orders still working after ``entry_ttl`` are cancelled (G9 then deals with a lone filled leg)."""
        ttl = int(self.entry_ttl_secs * NS_PER_SEC)
        stale = {cid for cid, o in self.working.items() if o.purpose is Purpose.ENTRY and now - o.ts_created_ns >= ttl}
        for cid in stale:
            await self.gateways[self.instruments[self.working[cid].instrument_id].venue].cancel(cid)
        if stale:
            self.stats.entries_expired += len(stale)
            self._drain()

    async def submit_intent(self, intent: OrderIntent, account: AccountView | None = None) -> Decision:
        """The only way to a gateway: the governor decides, and only its decision's orders are sent."""
        self.stats.intents += 1
        now = self.clock.now_ns()
        t0 = time.perf_counter()
        reads = self.reads if self.reads is not None and self.reads.now_ns == now else None
        decision = self.governor.decide(intent, account or self.account_view(), self.market, now, reads)
        seconds = time.perf_counter() - t0
        if self.firm is not None and decision.orders and not decision.risk_reducing:
            decision = await self.firm.admit(decision)  # the firm's share, reserved before anything is written
        self.bus.publish(DecisionMade(decision, seconds))
        if decision.orders:
            orders = decision.orders
            if len(orders) == 2 and not decision.risk_reducing:  # leg-safe: the less liquid leg goes first
                orders = (self.pairs.open(decision),)
            await self._send(orders, decision.risk_reducing)
        return decision

    async def _send(self, orders: tuple[Order, ...] | list[Order], reducing: bool = True) -> None:
        """Write ahead, then send. Orders already known (sent before a restart) are never sent again; when the
        store is down, only risk-reducing orders go out (their records wait in the recorder's backlog)."""
        orders = [o for o in orders if o.client_order_id not in self.orders]
        if not orders:
            return
        if self.recorder is not None:
            written = await self.recorder.write_ahead(self._venue_of, list(orders))
            if not written and not reducing:
                self.stats.rejections["store_down"] += len(orders)
                log.error("store.entry_withheld", orders=[o.client_order_id for o in orders])
                if self.firm is not None:
                    for o in orders:
                        self.firm.forget(o.decision_id)
                return
        for order in orders:
            self.booking.sent(order)
            if order.leverage:
                self.leverage[order.instrument_id] = order.leverage
        await asyncio.gather(*(self.gateways[self.instruments[o.instrument_id].venue].submit(o) for o in orders))
        self.stats.orders_sent += len(orders)
        for o in orders:
            self.bus.publish(OrderSent(o, self._venue_of[o.instrument_id]))
        self._drain()
        while self.booking.released:  # hedge legs released by lead fills (part of an approved decision)
            await self._send(self.booking.take_released())

    async def report_to_firm(self, last: bool = False) -> None:
        """This instance's exposure per base asset (at mark), equity and entries in progress, to the firm budget
        (``last``: the final report of a clean stop, which also ends its reservations)."""
        assert self.firm is not None
        view = self.account_view()
        exposure = {b: (g, view.net_by_base.get(b, 0.0)) for b, g in view.gross_by_base.items()}
        day_start = self.governor.state.day_start_equity
        if last:
            await self.firm.close(self, exposure, view.equity, day_start)
        else:
            await self.firm.after_tick(self, exposure, view.equity, day_start)

    def filled(self, client_order_id: str) -> Decimal:
        return self.booking.filled(client_order_id)

    def in_flight(self, decision_id: str) -> bool:
        return self.booking.in_flight(decision_id)

    def absorb(self) -> None:
        """Apply what the venues reported outside a tick (recovery's cancels, a last read of fills and funding)."""
        self._drain()

    async def cancel_all(self) -> None:
        await self.cancel_where(None)

    async def cancel_where(self, instruments: set[str] | None) -> None:
        """Cancel working orders (on ``instruments``, or all) and apply what the venues answer."""
        for cid, order in list(self.working.items()):
            if instruments is None or order.instrument_id in instruments:
                await self.gateways[self.instruments[order.instrument_id].venue].cancel(cid)
        self._drain()
        self.booking.released.clear()  # nothing is released while the governor is taking risk off

    def account_view(self) -> AccountView:
        """The governor's view of the account, built again only when something it is made of changed: the tick's
        marks, a venue event or fill booked, an order sent, a working order gone, the store's health, or a venue's
        account state (a gateway hands out the same state object until its account or its marks change)."""
        states = self.account_states()
        store_ok = self.recorder is None or self.recorder.healthy
        key = (
            self.stats.ticks,
            self.booking.events,
            self.stats.orders_sent,
            len(self.working),
            store_ok,
            tuple(map(id, states.values())),  # the cached view holds these states: their ids cannot be reused
        )
        if self._view is not None and self._view[0] == key:
            return self._view[1]
        view = account_view(
            self.ledger,
            self.market,
            self.instruments,
            self.leverage,
            len(self.working),
            self.pairs.gaps() if self.pairs.pairs else {},
            store_ok,
            states,
        )
        self._view = (key, view)
        return view

    def _drain(self) -> None:
        self.booking.drain(self.gateways.values())

    def apply_fill(self, fill: Fill, record: bool) -> None:
        """Book a fill (recovery books the fills a restart missed without publishing them again)."""
        self.booking.apply_fill(fill, record)


def _plain(inputs: Mapping[str, object]) -> dict[str, object]:
    return {f"in_{k}": v for k, v in inputs.items()}
