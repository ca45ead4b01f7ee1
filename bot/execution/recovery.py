"""Start-up reconciliation after a crash or restart (SPEC §5): the store and the venues are compared both ways.

1. The ledger is rebuilt from the store's fills, funding and borrow (reference prices from the written-ahead orders).
2. Venue facts the store does not have — fills, funding payments, borrow charges made while the bot was down or
   between a venue's action and the bot's commit — are backfilled (idempotently) and applied.
3. Orders the store has but a venue never saw (the bot died between writing ahead and sending) are marked
   ``not_sent``; orders still working at a venue are tracked again; orders a venue has that the store does not know are
   orphans: cancelled and counted. Nothing is ever sent again: the client order ids are kept.
4. The governor's state (trading state, peaks, ladders, leg timers) is restored; positions are checked against the
   venues' and every mismatch is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from bot.domain import (
    ZERO,
    BorrowCharge,
    Fill,
    FundingPayment,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Purpose,
    Side,
)
from bot.execution.executor import Executor
from bot.logs import get_logger
from bot.store.models import FillRow, OrderRow
from bot.store.repository import Store

log = get_logger(__name__)
_OPEN = {"pending", "accepted", "partially_filled"}


@dataclass(slots=True)
class RecoveryReport:
    cursor_ns: int | None = None
    fills_loaded: int = 0
    fills_backfilled: int = 0
    funding_backfilled: int = 0
    borrow_backfilled: int = 0
    orders_not_sent: int = 0
    orders_working: int = 0
    orphans_cancelled: int = 0
    position_mismatches: dict[str, tuple[str, str]] = field(default_factory=dict)

    def summary(self) -> dict[str, int | None]:
        return {
            f.name: len(self.position_mismatches) if f.name == "position_mismatches" else getattr(self, f.name)
            for f in fields(self)
        }


def _order(r: OrderRow) -> Order:
    return Order(
        r.client_order_id,
        r.intent_id,
        r.decision_id,
        r.instrument_id,
        Side(r.side),
        r.qty,
        OrderType(r.order_type),
        Purpose(r.purpose),
        r.ts_created_ns,
        r.limit_price,
        r.post_only,
        r.reduce_only,
        r.leverage,
        float(r.ref_mid),
        float(r.ref_touch),
    )


def _fill(r: FillRow) -> Fill:
    return Fill(
        r.venue,
        r.trade_id,
        r.client_order_id,
        r.instrument_id,
        Side(r.side),
        r.qty,
        r.price,
        r.fee,
        Liquidity(r.liquidity),
        r.ts_ns,
        r.is_liquidation,
        r.is_settlement,
        fee_qty=r.fee_qty,
    )


async def recover(store: Store, run_id: int, ex: Executor, cursor_ns: int | None) -> RecoveryReport:
    rep = RecoveryReport(cursor_ns=cursor_ns)
    rec = ex.recorder
    assert rec is not None
    rows = await store.orders(run_id)
    for r in rows:
        o = _order(r)
        ex.orders[o.client_order_id] = o
        if o.leverage:
            ex.leverage[o.instrument_id] = o.leverage
    events: list[tuple[int, int, object]] = []  # (ts, kind order, event) to apply in time order
    stored_fills = [_fill(fr) for fr in await store.fills(run_id)]
    events.extend((f.ts_ns, 0, f) for f in stored_fills)
    rep.fills_loaded = len(events)
    stored_funding = [
        FundingPayment(p.venue, p.instrument_id, p.ts_ns, p.rate, p.position_qty, p.mark, p.amount)
        for p in await store.funding(run_id)
    ]
    events.extend((p.ts_ns, 1, p) for p in stored_funding)
    seen_borrow = set()
    for c in await store.borrow(run_id):
        seen_borrow.add((c.venue, c.instrument_id, c.ts_ns))
        events.append((c.ts_ns, 2, BorrowCharge(c.venue, c.instrument_id, c.ts_ns, c.qty, c.rate_apr, c.amount)))

    # the venues' own records since the run's first order (nothing before it can be the run's: no position, no fill),
    # read against the store's — a fresh process knows nothing else. The bot's clock: simulated on replays.
    started_ns = min((r.ts_created_ns for r in rows), default=None)
    seen_trades = {(f.venue, f.trade_id) for f in stored_fills}
    seen_funding = {(p.venue, p.instrument_id, p.ts_ns) for p in stored_funding}
    for venue, gw in ex.gateways.items():
        gw.adopt(
            started_ns or 0,
            [ex.orders[r.client_order_id] for r in rows if r.venue == venue],
            [f for f in stored_fills if f.venue == venue],
            [p for p in stored_funding if p.venue == venue],
        )
    known = {r.client_order_id for r in rows}
    for gw in ex.gateways.values():  # the run's orders the store never saw: cancelled first, their fills booked below
        for o in await gw.fetch_open_orders():
            if o.client_order_id not in known:
                await gw.cancel(o.client_order_id)
                rep.orphans_cancelled += 1
                log.error("recovery.orphan_cancelled", client_order_id=o.client_order_id)
    # what happened that the store missed (a run with no order has no fill, funding or borrow of its own)
    for gw in ex.gateways.values() if started_ns is not None else ():
        for f in await gw.fetch_fills(started_ns or 0):
            if (f.venue, f.trade_id) not in seen_trades:
                events.append((f.ts_ns, 0, f))
                rec.handle(f)
                rep.fills_backfilled += 1
        for pay in await gw.fetch_funding(started_ns or 0):
            if (pay.venue, pay.instrument_id, pay.ts_ns) not in seen_funding:
                events.append((pay.ts_ns, 1, pay))
                rec.handle(pay)
                rep.funding_backfilled += 1
        for charge in await gw.fetch_borrow(started_ns or 0):
            if (charge.venue, charge.instrument_id, charge.ts_ns) not in seen_borrow:
                events.append((charge.ts_ns, 2, charge))
                rec.handle(charge)
                rep.borrow_backfilled += 1
    for _, _, ev in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(ev, Fill):
            ex.apply_fill(ev, record=False)
        elif isinstance(ev, FundingPayment):
            ex.ledger.apply_funding(ev)
        elif isinstance(ev, BorrowCharge):
            ex.ledger.apply_borrow(ev)

    # orders the store has: what the venue says became of them
    for r in rows:
        if r.status not in _OPEN:
            continue
        gw = ex.gateways[r.venue]
        st: OrderUpdate | None = await gw.fetch_order(r.client_order_id)
        if st is None:
            rec.order_status(r.client_order_id, "not_sent", ZERO, "unknown_to_venue", r.ts_created_ns)
            rep.orders_not_sent += 1
            continue
        rec.order_update(st)
        if st.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            ex.working[r.client_order_id] = ex.orders[r.client_order_id]
            rep.orders_working += 1
    ex.absorb()  # the venues' answers to the cancels

    state = await store.governor_state(run_id)
    if state is not None:
        ex.governor.import_state(state)
    for gw in ex.gateways.values():
        for iid, pos in (await gw.fetch_positions()).items():
            ours = ex.ledger.qty(iid)
            if ours != pos.qty:
                rep.position_mismatches[iid] = (str(ours), str(pos.qty))
        for iid, book in ex.ledger.legs.items():
            if book.qty and ex.instruments[iid].venue == gw.venue and iid not in await gw.fetch_positions():
                rep.position_mismatches[iid] = (str(book.qty), "0")
    if rep.position_mismatches:
        log.error("recovery.position_mismatch", mismatches=rep.position_mismatches)
    ex.resume_after_ns = cursor_ns
    log.info("recovery.done", **rep.summary())
    return rep
