"""What a rule sees: the intent's legs priced once, the account, the market, the clock's reading."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.domain import Instrument, MarketSnapshot, OrderIntent, RuleHit


@dataclass(frozen=True, slots=True)
class AccountView:
    """The bot's own view of its account, refreshed every tick (floats: limits need no exact money)."""

    equity: float
    positions: Mapping[str, float]  # signed quantity per instrument id
    gross_by_venue: Mapping[str, float]  # Σ |qty × mark| per venue
    gross_total: float
    open_orders: int = 0


@dataclass(frozen=True, slots=True)
class PricedLeg:
    instrument: Instrument
    snapshot: MarketSnapshot
    signed_qty: float
    notional: float  # |qty| × mark


@dataclass(frozen=True, slots=True)
class CheckContext:
    intent: OrderIntent
    legs: tuple[PricedLeg, ...]
    account: AccountView
    now_ns: int
    added_gross_by_venue: Mapping[str, float]  # gross exposure this intent would add, per venue (≥ 0 part)
    added_gross_total: float


class Rule(Protocol):
    """A rule family: given its data, return nothing (allow) or a hit (resize or deny)."""

    rule_id: str
    entry_only: bool  # skipped for risk-reducing intents

    def check(self, ctx: CheckContext) -> RuleHit | None: ...
