"""What the venues report, booked once: fills to the ledger and the pairs (a lead's fill releases its hedge leg),
funding and borrow to the ledger, transfers counted, and the end of every order the executor sent.

The executor owns the tick; this owns the record of orders sent and what became of them — which are working, how much
of each has traded as booked, and which a venue called filled before its fills arrived (live: the order's state
answer comes before its trade records; its instrument stays busy until the fills are booked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from bot.clock import Clock
from bot.decisions import Decision
from bot.domain import (
    ZERO,
    BorrowCharge,
    Fill,
    FundingPayment,
    MarketSnapshot,
    Order,
    OrderStatus,
    OrderUpdate,
    TransferStatus,
    TransferUpdate,
    to_decimal,
)
from bot.events import EventBus
from bot.execution.pairs import PairBook
from bot.execution.stats import ExecutorStats
from bot.governor import Governor
from bot.ledger import Ledger
from bot.logs import get_logger
from bot.venues.gateway import Gateway

log = get_logger(__name__)

TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


class Booking:
    def __init__(
        self,
        ledger: Ledger,
        pairs: PairBook,
        governor: Governor,
        clock: Clock,
        market: Mapping[str, MarketSnapshot],
        stats: ExecutorStats,
        bus: EventBus,
    ) -> None:
        self.ledger, self.pairs, self.governor, self.clock = ledger, pairs, governor, clock
        self.market, self.stats, self.bus = market, stats, bus
        self.orders: dict[str, Order] = {}  # every order sent (or known from before a restart), by client id
        self.working: dict[str, Order] = {}  # sent and not ended
        self.traded: dict[str, Decimal] = {}  # what each order traded, as booked (before a fee kept in the coin)
        # orders a venue reported filled before their fills arrived: client id -> (order, filled quantity, since)
        self.awaiting_fills: dict[str, tuple[Order, Decimal, int]] = {}
        self.released: list[Order] = []  # hedge legs released by lead fills, to be sent
        self.events = 0  # venue events and fills booked so far (the executor's account view is rebuilt on change)

    # --- orders --------------------------------------------------------------------------------------------------
    def sent(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        self.working[order.client_order_id] = order

    def filled(self, client_order_id: str) -> Decimal:
        """How much of an order has traded, as booked."""
        return self.traded.get(client_order_id, ZERO)

    def fully_filled(self, decision: Decision) -> bool:
        """Every order of the decision has ended and traded in full."""
        return (
            bool(decision.orders)
            and not any(o.client_order_id in self.working for o in decision.orders)
            and all(self.filled(o.client_order_id) >= o.qty for o in decision.orders)
        )

    def in_flight(self, decision_id: str) -> bool:
        """An order of the decision is released but not sent yet, or was reported filled before its fills arrived."""
        return any(o.decision_id == decision_id for o in self.released) or any(
            o.decision_id == decision_id for o, _, _ in self.awaiting_fills.values()
        )

    def take_released(self) -> list[Order]:
        out, self.released = self.released, []
        return out

    def awaiting_instruments(self, now_ns: int, patience_secs: float = 120.0) -> set[str]:
        """Instruments with an order the venue called filled whose fills are not booked yet; after ``patience_secs``
        the wait ends with an error (the watchdog compares positions) rather than freezing the pair."""
        for cid, (_order, qty, since) in list(self.awaiting_fills.items()):
            if now_ns - since > patience_secs * 1e9:
                del self.awaiting_fills[cid]
                self.stats.rejections["fills_missing"] += 1
                log.error("venue.fills_missing", client_order_id=cid, filled=str(qty), booked=str(self.filled(cid)))
        return {order.instrument_id for order, _, _ in self.awaiting_fills.values()}

    # --- what the venues report ------------------------------------------------------------------------------------
    def drain(self, gateways: Iterable[Gateway]) -> None:
        st = self.stats
        publish = self.bus.publish
        for gw in gateways:
            for ev in gw.drain_events():
                self.events += 1
                if isinstance(ev, Fill):
                    self.apply_fill(ev, record=True)
                elif isinstance(ev, FundingPayment):
                    self.ledger.apply_funding(ev)
                    st.funding_payments += 1
                    st.funding_log.append(ev)
                    publish(ev)
                elif isinstance(ev, BorrowCharge):
                    self.ledger.apply_borrow(ev)
                    st.borrow_charges += 1
                    publish(ev)
                elif isinstance(ev, TransferUpdate):
                    st.transfers[ev.status.value] += 1
                    if ev.status is TransferStatus.DONE:
                        st.transferred_usd += float(ev.amount)
                    else:
                        log.warning("venue.transfer_refused", venue=ev.venue, transfer=ev.transfer_id, reason=ev.reason)
                    publish(ev)
                elif isinstance(ev, OrderUpdate):
                    publish(ev)
                    self._order_update(ev)

    def _order_update(self, ev: OrderUpdate) -> None:
        if ev.status in TERMINAL:
            order = self.working.pop(ev.client_order_id, None)
            if order is not None and ev.filled_qty > self.filled(ev.client_order_id):
                self.awaiting_fills[ev.client_order_id] = (order, ev.filled_qty, self.clock.now_ns())
            if order is not None and ev.status is not OrderStatus.FILLED and ev.filled_qty == 0:
                self.pairs.drop_unfilled(order.decision_id)  # a lead that never filled: no pair
        if ev.status is OrderStatus.REJECTED:
            reason = ev.reason or "unknown"
            self.stats.rejections[reason] += 1
            now = self.clock.now_ns()
            until = self.governor.venue_rejected(ev.venue, reason, now)
            if until is not None:
                log.warning("governor.venue_paused", venue=ev.venue, reason=ev.reason, paused_secs=(until - now) / 1e9)
            log.warning("venue.rejected", venue=ev.venue, client_order_id=ev.client_order_id, reason=ev.reason)

    def apply_fill(self, fill: Fill, record: bool) -> None:
        """Book a fill in the ledger (reference prices from its order) and release any hedge it calls for."""
        st = self.stats
        self.events += 1
        order = self.orders.get(fill.client_order_id)
        if order is not None:
            self.ledger.apply_fill(fill, to_decimal(order.ref_mid), to_decimal(order.ref_touch))
        else:  # venue-initiated (liquidation, expiry settlement): all of it is price PnL at that price
            self.ledger.apply_fill(fill, fill.price, fill.price)
        st.fills += 1
        st.fills_log.append(fill)
        if record:
            self.bus.publish(fill)
        booked = self.traded[fill.client_order_id] = self.filled(fill.client_order_id) + fill.traded_qty
        awaited = self.awaiting_fills.get(fill.client_order_id)
        if awaited is not None and booked >= awaited[1]:
            del self.awaiting_fills[fill.client_order_id]
        closed = len(self.pairs.unhedged_secs)
        self.released.extend(self.pairs.on_fill(fill, self.market, self.clock.now_ns()))
        for secs in self.pairs.unhedged_secs[closed:]:
            st.unhedged_intervals += 1
            st.unhedged_secs_total += secs
            st.unhedged_secs_max = max(st.unhedged_secs_max, secs)
        if fill.is_liquidation:
            st.liquidations += 1
            log.error(
                "venue.liquidation",
                venue=fill.venue,
                instrument=fill.instrument_id,
                qty=str(fill.qty),
                price=str(fill.price),
            )
