"""The paper venue's records — account, working orders, the exchange's own history — and their durability.

``PaperState`` holds what a real exchange would hold for an account and journals it (``PaperJournal``) after every
mutating call; it answers the history queries reconciliation asks of a venue (``fetch_order``, ``fetch_fills``...).
Matching and settlement live in ``bot.venues.paper``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.accounts import AccountMode, AccountState, MarginAccount, MarginMode, MarginTier, PerpMargin
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
    TransferUpdate,
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
    decode_transfer,
    decode_update,
    encode,
)
from bot.venues.paper_moments import IntrabarMoments


@dataclass(slots=True)
class PerpPos:
    qty: Decimal
    entry: Decimal
    leverage: int
    mode: MarginMode = MarginMode.CROSS
    margin: Decimal = ZERO  # posted margin of an isolated position (out of the margin wallet's cash)


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
    account_mode: AccountMode = AccountMode.UNIFIED
    margin_mode: MarginMode = MarginMode.CROSS  # of every perp position, unless ``margin_modes`` names it
    margin_modes: Mapping[str, MarginMode] = field(default_factory=dict)  # instrument id -> mode
    collateral_haircut: Decimal = Decimal("0.95")  # share of a coin's value that is collateral (unified accounts)
    derivatives_share: Decimal = Decimal("0.5")  # split accounts: share of the initial cash in the derivatives wallet
    tiers: Mapping[str, tuple[MarginTier, ...]] = field(default_factory=dict)  # instrument id -> leverage brackets


class PaperState:
    """Account state and history of one paper venue, durable when given a journal."""

    def __init__(
        self,
        venue: str,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        params: PaperParams,
        journal: PaperJournal | None = None,
        moments: IntrabarMoments | None = None,
    ) -> None:
        self.venue = venue
        self._inst = {k: v for k, v in instruments.items() if v.venue == venue}
        self._clock = clock
        self._p = params
        split = params.account_mode is AccountMode.SPLIT
        self.deriv_cash: Decimal = params.initial_cash * params.derivatives_share if split else ZERO
        self.cash: Decimal = params.initial_cash - self.deriv_cash  # the spot wallet, or the unified one
        self.holdings: dict[str, Decimal] = {}
        self.perps: dict[str, PerpPos] = {}
        self._books: dict[str, MarketSnapshot] = {}
        self._working: dict[str, Working] = {}
        self._seen_ids: set[str] = set()
        self._seen_transfers: set[str] = set()  # the venue refuses a transfer id it has seen, as it does an order's
        self._moments = moments if moments is not None else IntrabarMoments()  # shared by a run's paper venues
        self._state_cache: AccountState | None = None  # account_state() until the account or the marks change
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
        self.transfer_log: list[TransferUpdate] = []
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
            "deriv_cash": str(self.deriv_cash),
            "trade_seq": self._trade_seq,
            "last_observed_ns": self.last_observed_ns,
            "submissions": self.submissions,
            "duplicate_submissions": self.duplicate_submissions,
            "holdings": {k: str(v) for k, v in self.holdings.items()},
            "perps": {
                k: [str(p.qty), str(p.entry), p.leverage, p.mode.value, str(p.margin)] for k, p in self.perps.items()
            },
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
        self.deriv_cash = Decimal(state.get("deriv_cash", "0"))
        self._trade_seq, self.last_observed_ns = state["trade_seq"], state["last_observed_ns"]
        self.submissions, self.duplicate_submissions = state["submissions"], state["duplicate_submissions"]
        self.holdings = {k: Decimal(v) for k, v in state["holdings"].items()}
        self.perps = {}
        for k, (q, e, lev, *margin) in state["perps"].items():
            mode, posted = (MarginMode(margin[0]), Decimal(margin[1])) if margin else (MarginMode.CROSS, ZERO)
            self.perps[k] = PerpPos(Decimal(q), Decimal(e), lev, mode, posted)
        self._working = {}
        for o, remaining, filled in state["working"]:
            order = decode_order(o)
            self._working[order.client_order_id] = Working(order, Decimal(remaining), Decimal(filled))
        self._seen_ids = set(state.get("seen_ids", ())) | {e["client_order_id"] for e in journal.events("seen")}
        self._seen_transfers = {e["transfer_id"] for e in journal.events("seen_transfer")}
        self._borrow_since = {k: int(v) for k, v in state["borrow_since"].items()}
        self._books = {b["instrument_id"]: decode_snapshot(b) for b in state["books"]}
        self.fills_log = [decode_fill(d) for d in journal.events("fill")]
        self.funding_log = [decode_funding(d) for d in journal.events("funding")]
        self.borrow_log = [decode_borrow(d) for d in journal.events("borrow")]
        self.transfer_log = [decode_transfer(d) for d in journal.events("transfer")]
        self.order_status = {u.client_order_id: u for u in map(decode_update, journal.events("order"))}

    # --- the exchange's history (what reconciliation asks a venue) ---------------------------------------------------
    def adopt(
        self, since_ns: int, orders: Iterable[Order], fills: Iterable[Fill], funding: Iterable[FundingPayment]
    ) -> None:
        """The paper venue's journal is its own record of the run: nothing to learn from the store."""

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

    async def fetch_transfers(self, since_ns: int = 0) -> list[TransferUpdate]:
        return [t for t in self.transfer_log if t.ts_ns >= since_ns]

    # --- the account as the venue keeps it ---------------------------------------------------------------------------
    @property
    def split(self) -> bool:
        return self._p.account_mode is AccountMode.SPLIT

    def margin_cash(self) -> Decimal:
        """USDT in the wallet perps margin from."""
        return self.deriv_cash if self.split else self.cash

    def _credit_margin(self, amount: Decimal) -> None:
        if self.split:
            self.deriv_cash += amount
        else:
            self.cash += amount

    def _mode_for(self, instrument_id: str) -> MarginMode:
        return self._p.margin_modes.get(instrument_id, self._p.margin_mode)

    def _spot_mark(self, base: str) -> float:
        for iid, inst in self._inst.items():
            if inst.base == base and not inst.is_derivative and iid in self._books:
                return self._books[iid].mark
        return 0.0

    def margin_account(self) -> MarginAccount:
        """The margin wallet as the venue sees it now (floats: for limits and liquidation, not accounting)."""
        coins: dict[str, float] = {}
        marks: dict[str, float] = {}
        if not self.split:
            for iid, q in self.holdings.items():
                if q:
                    base = self._inst[iid].base
                    coins[base] = coins.get(base, 0.0) + float(q)
                    marks[base] = self._books[iid].mark
        perps = []
        for iid, pos in self.perps.items():
            inst = self._inst[iid]
            perps.append(
                PerpMargin(
                    iid,
                    inst.base,
                    float(pos.qty),
                    float(pos.entry),
                    self._books[iid].mark,
                    pos.mode,
                    float(pos.leverage),
                    float(pos.margin),
                    self._p.tiers.get(iid, ()),
                    float(inst.maintenance_margin_rate),
                )
            )
        return MarginAccount(
            self.venue,
            self._p.account_mode,
            float(self.margin_cash()),
            coins,
            marks,
            float(self._p.collateral_haircut),
            tuple(perps),
        )

    def _trade_id(self) -> str:
        return f"{self.venue}-{self.account_id}-t{self._trade_seq}"

    def _emit(self, ev: VenueEvent) -> None:
        """Every event reaches the bot (drain_events) and the venue's own history (journal)."""
        self._state_cache = None  # every change to the account emits an event
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
        elif isinstance(ev, TransferUpdate):
            self.transfer_log.append(ev)
            kind = "transfer"
        else:
            self.order_status[ev.client_order_id] = ev
            kind = "order"
        if self._journal is not None:
            self._unjournaled.append((kind, encode(ev)))
