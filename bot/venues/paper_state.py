"""The paper venue's records — account, working orders, the exchange's own history — and their durability.

``PaperState`` holds what a real exchange would hold for an account and journals it (``PaperJournal``) after every
mutating call; it answers the history queries reconciliation asks of a venue (``fetch_order``, ``fetch_fills``...).
Matching and settlement live in ``bot.venues.paper``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import Clock
from bot.domain import (
    ZERO,
    BorrowCharge,
    Fill,
    FundingPayment,
    Instrument,
    MarketSnapshot,
    Order,
    OrderUpdate,
    VenueEvent,
)
from bot.strategies.borrow import BorrowCurve
from bot.venues.paper_journal import (
    PaperJournal,
    decode_borrow,
    decode_fill,
    decode_funding,
    decode_order,
    decode_snapshot,
    decode_update,
    encode,
)


def liquidation_price(entry: Decimal, qty: Decimal, leverage: int, mmr: Decimal) -> Decimal:
    """G2 liquidation price of a linear position (``qty`` signed)."""
    inv = Decimal(1) / Decimal(leverage)
    return entry * (1 - inv - mmr) if qty > 0 else entry * (1 + inv + mmr)


@dataclass(slots=True)
class PerpPos:
    qty: Decimal
    entry: Decimal
    leverage: int


@dataclass(slots=True)
class Working:
    order: Order
    remaining: Decimal
    filled: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PaperParams:
    initial_cash: Decimal = Decimal(100_000)
    latency_secs: float = 0.05
    slippage_bps: float = 0.5
    impact_bps_per_million_usd: float = 2.0
    partial_fill_fraction: float = 1.0
    default_leverage: int = 1
    borrow: BorrowCurve | None = None  # a spot borrow source; None = short spot is refused
    borrow_margin_pct: Decimal = Decimal("0.5")  # cash held against borrowed spot, as a share of its value


class PaperState:
    """Account state and history of one paper venue, durable when given a journal."""

    def __init__(
        self,
        venue: str,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        params: PaperParams,
        journal: PaperJournal | None = None,
    ) -> None:
        self.venue = venue
        self._inst = {k: v for k, v in instruments.items() if v.venue == venue}
        self._clock = clock
        self._p = params
        self.cash: Decimal = params.initial_cash
        self.holdings: dict[str, Decimal] = {}
        self.perps: dict[str, PerpPos] = {}
        self._books: dict[str, MarketSnapshot] = {}
        self._working: dict[str, Working] = {}
        self._seen_ids: set[str] = set()
        self._events: list[VenueEvent] = []
        self._trade_seq = 0
        self._borrow_since: dict[str, int] = {}
        self.last_observed_ns = -1
        self.account_id = secrets.token_hex(3)  # makes trade ids unique across paper accounts
        self.received: list[Order] = []  # every order that reached this venue (this process), for audits
        self.submissions = 0  # every submission ever, and those that reused a client order id (persisted)
        self.duplicate_submissions = 0
        # the exchange's own history, queryable like a real one's
        self.fills_log: list[Fill] = []
        self.funding_log: list[FundingPayment] = []
        self.borrow_log: list[BorrowCharge] = []
        self.order_status: dict[str, OrderUpdate] = {}
        self._journal = journal
        self._unjournaled: list[tuple[str, dict[str, object]]] = []
        self._dirty = False  # the account changed since the journal last took it
        if journal is not None:
            self._restore(journal)

    @property
    def params(self) -> PaperParams:
        """The execution model this venue simulates."""
        return self._p

    # --- durability: the venue's state lives in its own journal ------------------------------------------------------
    def _persist(self, durable: bool = False) -> None:
        """An order call (``durable``) is journaled before it returns; a market tick's changes are journaled by the
        next ``checkpoint()``, which the bot's store calls before it records anything (so the venue never forgets
        what the bot has recorded, and the venue's fast path writes once per group of ticks)."""
        if self._journal is None:
            return
        self._dirty = True
        if durable:
            self._save(durable=True)

    def checkpoint(self) -> None:
        """Journal the account and the events since the last checkpoint, if anything changed."""
        if self._journal is not None and self._dirty:
            self._save(durable=False)

    def _save(self, durable: bool) -> None:
        assert self._journal is not None
        state = {
            "account_id": self.account_id,
            "cash": str(self.cash),
            "trade_seq": self._trade_seq,
            "last_observed_ns": self.last_observed_ns,
            "submissions": self.submissions,
            "duplicate_submissions": self.duplicate_submissions,
            "holdings": {k: str(v) for k, v in self.holdings.items()},
            "perps": {k: [str(p.qty), str(p.entry), p.leverage] for k, p in self.perps.items()},
            "working": [[encode(w.order), str(w.remaining), str(w.filled)] for w in self._working.values()],
            "borrow_since": self._borrow_since,  # the ids seen are journaled as "seen" events
            "books": [encode(b) for b in self._books.values()],
        }
        self._journal.save(state, self._unjournaled, durable)
        self._unjournaled = []
        self._dirty = False

    def _restore(self, journal: PaperJournal) -> None:
        state = journal.load()
        if state is None:
            return
        self.account_id, self.cash = state["account_id"], Decimal(state["cash"])
        self._trade_seq, self.last_observed_ns = state["trade_seq"], state["last_observed_ns"]
        self.submissions, self.duplicate_submissions = state["submissions"], state["duplicate_submissions"]
        self.holdings = {k: Decimal(v) for k, v in state["holdings"].items()}
        self.perps = {k: PerpPos(Decimal(q), Decimal(e), lev) for k, (q, e, lev) in state["perps"].items()}
        self._working = {}
        for o, remaining, filled in state["working"]:
            order = decode_order(o)
            self._working[order.client_order_id] = Working(order, Decimal(remaining), Decimal(filled))
        self._seen_ids = set(state.get("seen_ids", ())) | {e["client_order_id"] for e in journal.events("seen")}
        self._borrow_since = {k: int(v) for k, v in state["borrow_since"].items()}
        self._books = {b["instrument_id"]: decode_snapshot(b) for b in state["books"]}
        self.fills_log = [decode_fill(d) for d in journal.events("fill")]
        self.funding_log = [decode_funding(d) for d in journal.events("funding")]
        self.borrow_log = [decode_borrow(d) for d in journal.events("borrow")]
        self.order_status = {u.client_order_id: u for u in map(decode_update, journal.events("order"))}

    # --- the exchange's history (what reconciliation asks a venue) ---------------------------------------------------
    async def fetch_order(self, client_order_id: str) -> OrderUpdate | None:
        return self.order_status.get(client_order_id)

    async def fetch_open_orders(self) -> list[Order]:
        return [w.order for w in self._working.values()]

    async def fetch_fills(self, since_ns: int = 0) -> list[Fill]:
        return [f for f in self.fills_log if f.ts_ns >= since_ns]

    async def fetch_funding(self, since_ns: int = 0) -> list[FundingPayment]:
        return [p for p in self.funding_log if p.ts_ns >= since_ns]

    async def fetch_borrow(self, since_ns: int = 0) -> list[BorrowCharge]:
        return [c for c in self.borrow_log if c.ts_ns >= since_ns]

    def _trade_id(self) -> str:
        return f"{self.venue}-{self.account_id}-t{self._trade_seq}"

    def _emit(self, ev: VenueEvent) -> None:
        """Every event reaches the bot (drain_events) and the venue's own history (journal)."""
        self._events.append(ev)
        if isinstance(ev, Fill):
            self.fills_log.append(ev)
            kind = "fill"
        elif isinstance(ev, FundingPayment):
            self.funding_log.append(ev)
            kind = "funding"
        elif isinstance(ev, BorrowCharge):
            self.borrow_log.append(ev)
            kind = "borrow"
        else:
            self.order_status[ev.client_order_id] = ev
            kind = "order"
        if self._journal is not None:
            self._unjournaled.append((kind, encode(ev)))
