"""The bot's own accounting: every change of equity explained by its parts (SPEC §4).

Price PnL is measured per leg against the *reference mid* (the mid the bot saw when it decided); what the fill
cost beyond that is split into ``spread`` (mid → touch) and ``slippage`` (touch → fill price). So, exactly::

    equity − initial = realized + unrealized + funding − fees − spread − slippage − borrow

and the venue's own account (cash + holdings at mark + perp PnL at mark) must agree; tests check both.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal

from bot.domain import ZERO, BorrowCharge, Fill, FundingPayment

_CTX = decimal.Context(prec=40)


@dataclass(slots=True)
class LegBook:
    """One instrument's position at mid-cost, with its realized price PnL."""

    qty: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized: Decimal = ZERO
    fqty: float = 0.0  # float mirrors for the per-tick risk view (never for accounting)
    favg: float = 0.0

    def trade(self, signed_qty: Decimal, price: Decimal) -> None:
        self._trade(signed_qty, price)
        self.fqty, self.favg = float(self.qty), float(self.avg_cost)

    def _trade(self, signed_qty: Decimal, price: Decimal) -> None:
        q = self.qty
        if q == 0 or (q > 0) == (signed_qty > 0):
            new = q + signed_qty
            cost = _CTX.add(_CTX.multiply(self.avg_cost, q), _CTX.multiply(price, signed_qty))
            self.avg_cost = _CTX.divide(cost, new)
            self.qty = new
            return
        closed = min(abs(signed_qty), abs(q))
        direction = 1 if q > 0 else -1
        self.realized += _CTX.multiply(closed * direction, price - self.avg_cost)
        new = q + signed_qty
        if new == 0:
            self.qty, self.avg_cost = ZERO, ZERO
        elif (new > 0) == (q > 0):
            self.qty = new
        else:
            self.qty, self.avg_cost = new, price


@dataclass(frozen=True, slots=True)
class LedgerParts:
    realized: Decimal
    unrealized: Decimal
    funding: Decimal
    fees: Decimal
    spread: Decimal
    slippage: Decimal
    borrow: Decimal

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized + self.funding - self.fees - self.spread - self.slippage - self.borrow

    def as_dict(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)} | {"total": str(self.total)}


@dataclass(slots=True)
class Ledger:
    initial_equity: Decimal
    legs: dict[str, LegBook] = field(default_factory=dict)
    funding: Decimal = ZERO
    fees: Decimal = ZERO
    spread: Decimal = ZERO
    slippage: Decimal = ZERO
    borrow: Decimal = ZERO
    funding_by_leg: dict[str, Decimal] = field(default_factory=dict)
    fees_by_leg: dict[str, Decimal] = field(default_factory=dict)
    costs_by_leg: dict[str, Decimal] = field(default_factory=dict)  # spread + slippage paid on each instrument
    _fixed: float = 0.0  # float of everything but unrealized PnL, refreshed on each event

    def __post_init__(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        realized = sum((b.realized for b in self.legs.values()), ZERO)
        self._fixed = float(
            self.initial_equity + realized + self.funding - self.fees - self.spread - self.slippage - self.borrow
        )

    def equity_estimate(self, mark_of: Callable[[str], float]) -> float:
        """Fast float equity for risk checks on every tick; accounting uses ``equity``."""
        eq = self._fixed
        for iid, b in self.legs.items():
            if b.fqty:
                eq += b.fqty * (mark_of(iid) - b.favg)
        return eq

    def apply_fill(self, fill: Fill, ref_mid: Decimal, ref_touch: Decimal) -> None:
        q = fill.signed_qty
        spread, slippage = q * (ref_touch - ref_mid), q * (fill.price - ref_touch)
        self.spread += spread
        self.slippage += slippage
        self.costs_by_leg[fill.instrument_id] = self.costs_by_leg.get(fill.instrument_id, ZERO) + spread + slippage
        self.fees += fill.fee
        self.fees_by_leg[fill.instrument_id] = self.fees_by_leg.get(fill.instrument_id, ZERO) + fill.fee
        book = self.legs.get(fill.instrument_id)
        if book is None:
            book = self.legs[fill.instrument_id] = LegBook()
        book.trade(q, ref_mid)
        self._refresh()

    def apply_funding(self, p: FundingPayment) -> None:
        self.funding += p.amount
        self.funding_by_leg[p.instrument_id] = self.funding_by_leg.get(p.instrument_id, ZERO) + p.amount
        self._refresh()

    def apply_borrow(self, c: BorrowCharge) -> None:
        self.borrow += c.amount
        self._refresh()

    def qty(self, instrument_id: str) -> Decimal:
        book = self.legs.get(instrument_id)
        return book.qty if book else ZERO

    def unrealized_by_leg(self, marks: Mapping[str, Decimal]) -> dict[str, Decimal]:
        return {iid: b.qty * (marks[iid] - b.avg_cost) for iid, b in self.legs.items() if b.qty}

    def parts(self, marks: Mapping[str, Decimal]) -> LedgerParts:
        realized = sum((b.realized for b in self.legs.values()), ZERO)
        unrealized = sum(self.unrealized_by_leg(marks).values(), ZERO)
        return LedgerParts(realized, unrealized, self.funding, self.fees, self.spread, self.slippage, self.borrow)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.initial_equity + self.parts(marks).total
