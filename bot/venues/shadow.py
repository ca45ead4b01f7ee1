"""Shadow mode: a live account read for real, decisions made for real, nothing sent.

``ShadowGateway`` wraps a keyed ``CcxtGateway``: balances, positions and the account model are the venue's own, so the
strategies and the governor decide on the real account; every order and transfer the governor approves is logged
(``shadow.would_send``), counted and reported back as cancelled (reason ``shadow``) — never a rejection, which would
pause the venue — and no cancel, leverage or margin change reaches the venue. The records the run would read back
(its fills, funding) are empty: the shadow run placed nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bot import domain as d
from bot.accounts import AccountState
from bot.clock import wall_ns
from bot.logs import get_logger
from bot.venues.ccxt_gateway import CcxtGateway
from bot.venues.gateway import Balance

log = get_logger(__name__)


class ShadowGateway:
    def __init__(self, inner: CcxtGateway) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.counts: Counter[str] = Counter()
        self._events: list[d.VenueEvent] = []

    def observe(self, batch: d.MarketBatch) -> None:
        """A live venue moves on its own."""

    async def submit(self, order: d.Order) -> None:
        self.counts["orders"] += 1
        log.info(
            "shadow.would_send",
            venue=self.venue,
            client_order_id=order.client_order_id,
            instrument=order.instrument_id,
            side=order.side.value,
            qty=str(order.qty),
            order_type=order.order_type.value,
            limit_price=str(order.limit_price) if order.limit_price is not None else None,
            purpose=order.purpose.value,
            reduce_only=order.reduce_only,
        )
        self._events.append(
            d.OrderUpdate(self.venue, order.client_order_id, d.OrderStatus.CANCELED, d.ZERO, wall_ns(), "shadow")
        )

    async def cancel(self, client_order_id: str) -> None:
        """Nothing was sent, so nothing is cancelled."""

    async def transfer(self, t: d.Transfer) -> None:
        self.counts["transfers"] += 1
        log.info("shadow.would_transfer", venue=self.venue, transfer_id=t.transfer_id, amount=str(t.amount))
        self._events.append(d.TransferUpdate.of(t, d.TransferStatus.REJECTED, wall_ns(), "shadow"))

    async def refresh_account(self, now_ns: int) -> None:
        await self.inner.refresh_account(now_ns)

    def account_state(self) -> AccountState | None:
        return self.inner.account_state()

    def drain_events(self) -> list[d.VenueEvent]:
        events, self._events = self._events, []
        return events

    async def fetch_positions(self) -> dict[str, d.Position]:
        return await self.inner.fetch_positions()

    async def fetch_balance(self) -> Balance:
        return await self.inner.fetch_balance()

    def adopt(
        self, since_ns: int, orders: Iterable[d.Order], fills: Iterable[d.Fill], funding: Iterable[d.FundingPayment]
    ) -> None:
        """A shadow run's store holds no order the venue saw."""

    async def fetch_order(self, client_order_id: str) -> d.OrderUpdate | None:
        return None

    async def fetch_open_orders(self) -> list[d.Order]:
        return []

    async def fetch_fills(self, since_ns: int = 0) -> list[d.Fill]:
        return []

    async def fetch_funding(self, since_ns: int = 0) -> list[d.FundingPayment]:
        return []

    async def fetch_borrow(self, since_ns: int = 0) -> list[d.BorrowCharge]:
        return []
