"""The gateway protocol every venue adapter implements (paper now, ccxt live later).

Only the executor holds gateways, and it only submits ``Order``s that came out of a governor ``Decision``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.accounts import AccountState
from bot.domain import (
    BorrowCharge,
    Fill,
    FundingPayment,
    MarketBatch,
    Order,
    OrderUpdate,
    Position,
    Transfer,
    VenueEvent,
)


@dataclass(frozen=True, slots=True)
class Balance:
    """Account totals in the quote currency, as the venue reports them."""

    cash: Decimal
    equity: Decimal


class Gateway(Protocol):
    venue: str

    def observe(self, batch: MarketBatch) -> None:
        """Market data reached the bot (a live venue ignores this; the paper venue matches and settles on it)."""

    async def submit(self, order: Order) -> None:
        """Send an approved order. Outcomes arrive as events (fills, updates); never raises for a rejection."""

    async def cancel(self, client_order_id: str) -> None: ...

    async def transfer(self, t: Transfer) -> None:
        """Carry out an approved transfer; the outcome arrives as a ``TransferUpdate`` event."""

    async def refresh_account(self, now_ns: int) -> None:
        """Read the venue account again if it is due (a live gateway rate-limits itself; the paper venue's account is
        always current)."""

    def account_state(self) -> AccountState | None:
        """The venue account as the venue keeps it (wallets, collateral, margin), as of the last tick; ``None`` when
        the gateway cannot say (the governor then falls back to the isolated formula at the leg's leverage)."""

    def drain_events(self) -> list[VenueEvent]:
        """Events since the last call, in the order they happened."""

    async def fetch_positions(self) -> dict[str, Position]: ...

    async def fetch_balance(self) -> Balance: ...

    # --- the venue's history, for reconciliation after a restart ---------------------------------------------------
    def adopt(
        self, since_ns: int, orders: Iterable[Order], fills: Iterable[Fill], funding: Iterable[FundingPayment]
    ) -> None:
        """The run began at ``since_ns``; the store holds these orders, fills and funding payments. A live gateway reads
        the venue's records against them (a fresh process knows nothing else); the paper venue keeps its own journal."""

    async def fetch_order(self, client_order_id: str) -> OrderUpdate | None:
        """The venue's latest word on an order, or None if it never saw it."""

    async def fetch_open_orders(self) -> list[Order]: ...

    async def fetch_fills(self, since_ns: int = 0) -> list[Fill]: ...

    async def fetch_funding(self, since_ns: int = 0) -> list[FundingPayment]: ...

    async def fetch_borrow(self, since_ns: int = 0) -> list[BorrowCharge]: ...
