"""The recorder: turns what the executor sees into store rows, writes orders ahead of sending, commits ticks with
their cursor — and keeps everything in memory while the store is down, flushing it in order on recovery.

Ticks are committed as they close unless the previous commit is younger than ``max_lag_secs`` (wall time): then the
tick joins a group committed by the next tick past that age, by the next write-ahead of orders (the group goes
first, so the store never holds an order after ticks it does not hold), by ``flush()``, or by a timer ``max_lag_secs``
later. A live or paced bot (ticks seconds apart) therefore commits every tick on its own; a replay at full speed
commits a few groups a second. A SIGKILL loses at most the last ``max_lag_secs`` of tick records — never a written-
ahead order — and the resumed run replays them from the stored cursor (it is in the same transaction).

While the store is unhealthy the governor refuses entries (G6 ``STORE_DOWN``: no order may be sent that could not be
written ahead); risk-reducing orders still go out and their records wait in the buffer. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.decisions import Decision, LadderEvent, RuleHit, StateTransition, TransferDecision
from bot.domain import BorrowCharge, Fill, FundingPayment, Order, OrderUpdate, TransferUpdate, to_decimal
from bot.events import DecisionMade, Event, TransferDecided
from bot.logs import get_logger
from bot.store.repository import OrderBatch, Store, TickBatch, TickRecords

log = get_logger(__name__)
_OUTAGE = (SQLAlchemyError, OSError, ConnectionError, TimeoutError)
_PER_TRANSACTION = 64  # backlog items written in one transaction (a store back from an outage catches up in few)


def order_row(run_id: int, venue: str, o: Order) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "client_order_id": o.client_order_id,
        "intent_id": o.intent_id,
        "decision_id": o.decision_id,
        "venue": venue,
        "instrument_id": o.instrument_id,
        "side": o.side.value,
        "qty": o.qty,
        "order_type": o.order_type.value,
        "purpose": o.purpose.value,
        "limit_price": o.limit_price,
        "post_only": o.post_only,
        "reduce_only": o.reduce_only,
        "leverage": o.leverage,
        "ref_mid": to_decimal(o.ref_mid),
        "ref_touch": to_decimal(o.ref_touch),
        "status": "pending",
        "filled_qty": Decimal(0),
        "reason": None,
        "ts_created_ns": o.ts_created_ns,
        "ts_updated_ns": o.ts_created_ns,
    }


def fill_row(run_id: int, f: Fill) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "venue": f.venue,
        "trade_id": f.trade_id,
        "client_order_id": f.client_order_id,
        "instrument_id": f.instrument_id,
        "side": f.side.value,
        "qty": f.qty,
        "price": f.price,
        "fee": f.fee,
        "liquidity": f.liquidity.value,
        "ts_ns": f.ts_ns,
        "is_liquidation": f.is_liquidation,
        "is_settlement": f.is_settlement,
        "fee_qty": f.fee_qty,
    }


def funding_row(run_id: int, p: FundingPayment) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "venue": p.venue,
        "instrument_id": p.instrument_id,
        "ts_ns": p.ts_ns,
        "rate": p.rate,
        "position_qty": p.position_qty,
        "mark": p.mark,
        "amount": p.amount,
    }


def borrow_row(run_id: int, c: BorrowCharge) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "venue": c.venue,
        "instrument_id": c.instrument_id,
        "ts_ns": c.ts_ns,
        "qty": c.qty,
        "rate_apr": c.rate_apr,
        "amount": c.amount,
    }


def _json(v: Any) -> Any:
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    return v


def decision_row(run_id: int, d: Decision) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "decision_id": d.decision_id,
        "intent_id": d.intent.intent_id,
        "ts_ns": d.ts_ns,
        "origin": d.intent.origin.value,
        "purpose": d.intent.purpose.value,
        "outcome": d.outcome.value,
        "scale": d.scale,
        "state": d.state.value,
        "risk_reducing": d.risk_reducing,
        "rules": ",".join(d.rules)[:128],
        "unavailable": ",".join(d.unavailable)[:128],
        "hits": _hits(d.hits),
    }


def _hits(hits: Iterable[RuleHit]) -> list[dict[str, Any]]:
    """The rules that fired and the numbers behind them, as stored."""
    return [
        {
            "rule": h.rule,
            "code": h.code.value,
            "max_scale": h.max_scale,
            "inputs": {k: _json(v) for k, v in h.inputs.items()},
        }
        for h in hits
    ]


def transfer_decision_row(run_id: int, d: TransferDecision) -> dict[str, Any]:
    """A transfer decision in the decisions table (purpose ``transfer``; the intent's numbers in ``hits``)."""
    return {
        "run_id": run_id,
        "decision_id": d.decision_id,
        "intent_id": d.intent.intent_id,
        "ts_ns": d.ts_ns,
        "origin": d.intent.origin.value,
        "purpose": "transfer",
        "outcome": d.outcome.value,
        "scale": 1.0 if d.transfer is not None else 0.0,
        "state": d.state.value,
        "risk_reducing": d.intent.to_wallet != "spot",
        "rules": ",".join(d.rules)[:128],
        "unavailable": "",
        "hits": _hits(d.hits),
    }


def transfer_row(run_id: int, t: TransferUpdate) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "venue": t.venue,
        "transfer_id": t.transfer_id,
        "ts_ns": t.ts_ns,
        "status": t.status.value,
        "asset": t.asset,
        "amount": t.amount,
        "from_wallet": t.from_wallet,
        "to_wallet": t.to_wallet,
        "instrument_id": t.instrument_id,
        "reason": t.reason[:64],
    }


class Recorder:
    """Buffers one tick's records, writes orders ahead, and survives store outages without losing a record."""

    def __init__(self, store: Store, run_id: int, max_lag_secs: float = 0.2) -> None:
        self.store = store
        self.run_id = run_id
        self.max_lag_secs = max_lag_secs
        self.tick = TickRecords()
        self._group: TickRecords | None = None  # closed ticks not yet handed to the store (one transaction)
        self._group_now_ns = 0
        self._group_ticks = 0
        self._last_commit = -float("inf")  # time.monotonic() of the last tick commit
        self._timer: asyncio.TimerHandle | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._backlog: deque[OrderBatch | TickBatch] = deque()  # what the store has yet to take, in order
        # called before anything is written: the paper venues journal what they did first, so the store never holds
        # a fill or payment its venue could forget
        self.before_write: list[Callable[[], None]] = []
        self.commits = 0  # tick transactions, and the ticks they carried
        self.ticks_committed = 0
        self.healthy = True
        self.failures = 0
        # what the store already holds of the upserted rows: a tick writes only those that changed
        self._written_positions: dict[str, tuple[Decimal, Decimal]] = {}
        self._written_pairs: dict[str, dict[str, Any]] = {}
        self._written_governor: dict[str, Any] | None = None

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    async def write_ahead(self, venue_of: dict[str, str], orders: list[Order]) -> bool:
        """Commit orders before they are sent; returns False (and buffers them) if the store is down."""
        rows = [order_row(self.run_id, venue_of[o.instrument_id], o) for o in orders]
        async with self._lock:
            self._barrier()
            self._seal()  # ticks closed before these orders are written first (in the same transaction)
            self._backlog.append(OrderBatch(rows))
            await self._drain()
            return not self._backlog

    def handle(self, event: Event) -> None:
        """A sink on the event bus: what the store keeps goes into this tick's records."""
        if isinstance(event, DecisionMade):
            self.tick.decisions.append(decision_row(self.run_id, event.decision))
        elif isinstance(event, Fill):
            self.tick.fills.append(fill_row(self.run_id, event))
        elif isinstance(event, FundingPayment):
            self.tick.funding.append(funding_row(self.run_id, event))
        elif isinstance(event, BorrowCharge):
            self.tick.borrow.append(borrow_row(self.run_id, event))
        elif isinstance(event, TransferDecided):
            self.tick.decisions.append(transfer_decision_row(self.run_id, event.decision))
        elif isinstance(event, TransferUpdate):
            self.tick.transfers.append(transfer_row(self.run_id, event))
        elif isinstance(event, OrderUpdate):
            self.order_update(event)
        elif isinstance(event, StateTransition):
            self.transition(event)
        elif isinstance(event, LadderEvent):
            self.ladder(event)

    def order_update(self, u: OrderUpdate) -> None:
        self.order_status(u.client_order_id, u.status.value, u.filled_qty, u.reason or None, u.ts_ns)

    def order_status(self, cid: str, status: str, filled: Decimal, reason: str | None, ts_ns: int) -> None:
        self.tick.order_updates.append(
            {"client_order_id": cid, "status": status, "filled_qty": filled, "reason": reason, "ts_ns": ts_ns}
        )

    def transition(self, t: StateTransition) -> None:
        self.tick.transitions.append(
            {
                "ts_ns": t.ts_ns,
                "from_state": t.from_state.value,
                "to_state": t.to_state.value,
                "rule": t.rule,
                "code": t.code.value if t.code else None,
                "inputs": {k: _json(v) for k, v in t.inputs.items()},
            }
        )

    def ladder(self, e: LadderEvent) -> None:
        self.tick.ladder.append(
            {
                "ts_ns": e.ts_ns,
                "key": e.key,
                "measure": e.measure,
                "from_stage": e.from_stage,
                "to_stage": e.to_stage,
                "value": _json(e.value),
            }
        )

    async def commit(
        self,
        cursor_ns: int | None,
        now_ns: int,
        equity: Decimal | None,
        positions: dict[str, tuple[Decimal, Decimal]],
        governor_state: dict[str, Any],
        pairs: list[dict[str, Any]],
    ) -> None:
        """Close the tick: everything it produced plus its cursor, in one transaction (or into the backlog) — now,
        or with the group of ticks it joins (see the module's docstring)."""
        rec = self.tick
        self.tick = TickRecords()
        rec.cursor_ns = cursor_ns
        if equity is not None and cursor_ns is not None:
            rec.equity.append({"run_id": self.run_id, "ts_ns": cursor_ns, "equity": equity})
        # upserts of unchanged rows are skipped (they were 70% of a tick's store time). A tick that fails to commit
        # stays in the backlog whole and is retried, so "written" here means "will be written, in order".
        changed = {k: v for k, v in positions.items() if self._written_positions.get(k) != v}
        self._written_positions.update(changed)
        rec.positions = [
            {"run_id": self.run_id, "instrument_id": k, "qty": q, "avg_cost": a, "ts_ns": now_ns}
            for k, (q, a) in changed.items()
        ]
        new_pairs = []
        for pair in pairs:
            key = {k: v for k, v in pair.items() if k != "ts_ns"}
            if self._written_pairs.get(pair["decision_id"]) != key:
                self._written_pairs[pair["decision_id"]] = key
                new_pairs.append({"run_id": self.run_id, **pair})
        rec.pairs = new_pairs
        if governor_state != self._written_governor:
            rec.governor_state = self._written_governor = governor_state
        self._join(rec, now_ns)
        if time.monotonic() - self._last_commit >= self.max_lag_secs or not self.healthy:
            await self.flush()
        else:
            self._arm_timer()

    async def flush(self) -> None:
        """Hand every closed tick to the store and write the backlog, in order (stops at the first failure)."""
        async with self._lock:
            self._barrier()
            self._seal()
            await self._drain()

    def close(self) -> None:
        """Stop the group timer (call ``flush()`` first: what is still pending stays in memory)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _barrier(self) -> None:
        for hook in self.before_write:
            hook()

    def _join(self, rec: TickRecords, now_ns: int) -> None:
        g = self._group
        self._group_now_ns = now_ns
        self._group_ticks += 1
        if g is None:
            self._group = rec
            return
        for name in ("order_updates", "fills", "funding", "borrow", "decisions", "transitions", "ladder", "equity"):
            getattr(g, name).extend(getattr(rec, name))
        # upserted rows: the latest per key (one statement may not update a row twice on PostgreSQL)
        g.positions = list({r["instrument_id"]: r for r in [*g.positions, *rec.positions]}.values())
        g.pairs = list({r["decision_id"]: r for r in [*g.pairs, *rec.pairs]}.values())
        if rec.governor_state is not None:
            g.governor_state = rec.governor_state
        if rec.cursor_ns is not None:
            g.cursor_ns = rec.cursor_ns

    def _seal(self) -> None:
        if self._group is not None:
            self._backlog.append(TickBatch(self._group, self._group_now_ns, self._group_ticks))
            self._group, self._group_ticks = None, 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.max_lag_secs, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_task = asyncio.get_running_loop().create_task(self.flush())

    async def _drain(self) -> None:
        """Write the backlog in order, up to ``_PER_TRANSACTION`` items a transaction (pending ticks and the orders
        after them in one commit); stops at the first failure, leaving that transaction's items in place."""
        while self._backlog:
            batch = list(itertools.islice(self._backlog, _PER_TRANSACTION))
            if not await self._try(self.store.write_in_order(self.run_id, batch)):
                return
            for item in batch:
                self._backlog.popleft()
                if isinstance(item, TickBatch):
                    self._last_commit = time.monotonic()
                    self.commits += 1
                    self.ticks_committed += item.ticks

    async def _try(self, op: Any) -> bool:
        try:
            await op
        except _OUTAGE as exc:
            self.failures += 1
            if self.healthy:
                log.error("store.down", error=type(exc).__name__)
            self.healthy = False
            return False
        if not self.healthy:
            log.warning("store.recovered", backlog=len(self._backlog))
            self.healthy = True
        return True
