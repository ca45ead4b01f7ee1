"""Live venues through ccxt's unified async API: the ``Gateway`` protocol over one exchange instance per account.

- Markets become ``Instrument``s (spot / swap / future, linear / inverse, contract size, tick, lot, expiry).
- ``submit`` sends ``create_order`` with a client order id the venue accepts (length and characters per venue,
  derived deterministically from the bot's id), ``postOnly`` and ``reduceOnly``; leverage is set first where
  ``has['setLeverage']`` and it changed.
- Transient errors (``NetworkError`` and subclasses) are retried with jittered backoff; rejections never are. After a
  timeout — or any answer that leaves the outcome unknown — on ``create_order``, the order is looked up by client id
  before anything is resent, so an order is never placed twice.
- Every error is reduced to a code (``bot.venues.errors``); the venue's raw text, which can echo request headers,
  is not logged.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

from bot.accounts import AccountState
from bot.clock import wall_ns
from bot.domain import (
    ZERO,
    BorrowCharge,
    FeeSchedule,
    Fill,
    FundingPayment,
    Instrument,
    InstrumentKind,
    MarketBatch,
    Order,
    OrderStatus,
    OrderUpdate,
    Position,
    Transfer,
    TransferStatus,
    TransferUpdate,
    VenueEvent,
)
from bot.errors import SandboxUnavailable, VenueError
from bot.logs import get_logger
from bot.retry import Backoff, retry
from bot.venues.ccxt_accounts import (
    READABLE,
    MalformedAccount,
    binance_account_state,
    bybit_account_state,
    okx_account_state,
    positions_from,
)
from bot.venues.ccxt_fills import FillTracker, poll_fills
from bot.venues.ccxt_history import read_fills, read_funding, read_trades
from bot.venues.ccxt_markets import (
    VENUE_OPTIONS,
    configure,
    market_funding_interval,
    market_to_instrument,
    route_through,
    venue_client_id,
)
from bot.venues.ccxt_markets import interval_secs as _interval_secs
from bot.venues.ccxt_orders import (
    NOT_THERE,
    UNREADABLE,
    confirm,
    orphan_order,
    place,
    resolve_unconfirmed,
    update_from,
)
from bot.venues.errors import ErrorKind, classify, venue_error
from bot.venues.gateway import Balance

log = get_logger(__name__)


# ccxt's name of the account USDⓈ-margined perps margin from, per venue (``transfer``'s fromAccount/toAccount)
# ccxt account names (its accountsByType): Binance USDⓈ-M is "linear" (UMFUTURE; "future" is not a Binance name
# in ccxt and would be taken for an isolated-margin symbol), OKX and Bybit unified accounts are one trading account
_DERIVATIVES_ACCOUNT = {"binance": "linear", "okx": "trading", "bybit": "unified"}


class CcxtGateway:
    """One venue account. ``exchange`` is a ``ccxt.async_support`` instance with ``enableRateLimit`` on."""

    def __init__(
        self,
        venue: str,
        exchange: Any,
        fees: FeeSchedule,
        max_retries: int = 4,
        backoff_secs: float = 0.25,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.venue = venue
        self.ex = exchange
        self._fees = fees
        self.max_retries = max_retries
        self._backoff = backoff_secs
        self.sleep = sleep
        self._events: list[VenueEvent] = []
        self.symbols: dict[str, str] = {}  # instrument id -> ccxt symbol (read by the feeds and fill loops)
        self.leverage: dict[str, int] = {}  # ccxt symbol -> leverage known to be set at the venue
        self._orders: dict[str, Order] = {}  # the client id the venue knows -> the bot's order (placed or tracked)
        self.traded: set[str] = set()  # instrument ids the bot trades here (recovery reads their records)
        self.client_prefix = ""  # this run's client order id prefix: open orders with it are the run's own
        self.unconfirmed: dict[str, tuple[Order, float]] = {}  # client id -> (order, monotonic time sent)
        self.lookup_grace_secs = 5.0  # how long a new order may stay invisible to queries (venues: seconds)
        self.history_since_ms = wall_ns() // 1_000_000  # the run's records start here (recovery moves it back)
        self.funding_seen: set[tuple[str, int]] = set()  # (instrument id, settlement ns) booked already
        self.counts: Counter[str] = Counter()
        self.instruments: dict[str, Instrument] = {}
        self.interval_source: dict[str, str] = {}  # perp id -> where its funding interval came from
        self.fills = FillTracker(venue)  # live fills, each trade once (bot/venues/ccxt_fills.py)
        self.errors: Counter[str] = Counter()  # by code
        self.retries: Counter[str] = Counter()
        self.lookups = 0
        self.account_refresh_secs = 30.0
        self.collateral_haircut = 0.95  # unified accounts: share of a coin's value counted as collateral
        self._account: AccountState | None = None
        self._account_ns = 0

    @classmethod
    def create(
        cls,
        venue: str,
        fees: FeeSchedule,
        api_key: str = "",
        secret: str = "",
        password: str = "",
        sandbox: bool = False,
        stream: bool = False,
        api_url: str = "",
        **options: Any,
    ) -> CcxtGateway:
        """One account's gateway. ``stream``: a ccxt.pro instance (REST and websocket watchers in one)."""
        if stream:
            import ccxt.pro as ccxt_module
        else:
            import ccxt.async_support as ccxt_module  # heavy: only live runs import it

        exchange = configure(
            getattr(ccxt_module, venue)(
                {
                    "apiKey": api_key,
                    "secret": secret,
                    "password": password,
                    "enableRateLimit": True,
                    "options": VENUE_OPTIONS.get(venue, {}),
                    **options,
                }
            )
        )
        if sandbox:
            if not exchange.urls.get("test"):
                raise SandboxUnavailable(venue)
            exchange.set_sandbox_mode(True)
        if api_url:  # the venue emulator or a recording proxy, never the venue's own hosts
            route_through(exchange, api_url)
        return cls(venue, exchange, fees)

    async def close(self) -> None:
        await self.ex.close()

    async def load(self) -> dict[str, Instrument]:
        markets = await self.call("load_markets", self.ex.load_markets)
        for m in markets.values():
            inst = market_to_instrument(self.venue, m, self._fees)
            if inst is not None:
                self.instruments[inst.id] = inst
                self.symbols[inst.id] = m["symbol"]
                if inst.kind is InstrumentKind.PERP and market_funding_interval(m) is not None:
                    self.interval_source[inst.id] = "market"
        return self.instruments

    # --- gateway protocol ---------------------------------------------------------------------------------------
    def observe(self, batch: MarketBatch) -> None:
        """A live venue moves on its own; nothing to simulate."""

    async def submit(self, order: Order) -> None:
        """Send an order (``bot/venues/ccxt_orders.py``): looked up, never placed twice, never raises."""
        await place(self, order)

    def track(self, orders: Iterable[Order]) -> None:
        """Orders of this run the gateway must know by client id (placed here, or by an earlier process)."""
        for o in orders:
            if self.instruments.get(o.instrument_id) is None:
                continue
            cid = venue_client_id(o.client_order_id, self.venue)
            self._orders[cid] = o
            self.fills.placed(cid, o)

    def adopt(
        self, since_ns: int, orders: Iterable[Order], fills: Iterable[Fill], funding: Iterable[FundingPayment]
    ) -> None:
        """After a restart: the run began at ``since_ns`` and the store holds these orders, fills and payments. The
        venue's records since then are read against them: what the store lacks is new; nothing is booked twice."""
        if since_ns > 0:
            self.history_since_ms = min(self.history_since_ms, since_ns // 1_000_000)
        self.track(orders)
        self.fills.know(fills, self.symbols)
        self.funding_seen.update((p.instrument_id, p.ts_ns) for p in funding)

    async def cancel(self, client_order_id: str) -> None:
        order = next((o for c, o in self._orders.items() if o.client_order_id == client_order_id), None)
        if order is None:
            return
        cid = venue_client_id(client_order_id, self.venue)
        try:
            await self.call(
                "cancel_order",
                lambda: self.ex.cancel_order(None, self.symbols[order.instrument_id], self._cid_params(cid)),
            )
        except VenueError as exc:
            if exc.code != "order_not_found":
                raise
        self._events.append(OrderUpdate(self.venue, client_order_id, OrderStatus.CANCELED, ZERO, wall_ns(), ""))

    def drain_events(self) -> list[VenueEvent]:
        events, self._events = self._events, []
        return events

    def account_state(self) -> AccountState | None:
        """The account as last read (``refresh_account``); ``None`` where this venue's account is not read yet."""
        return self._account

    async def refresh_account(self, now_ns: int) -> None:
        """Read the venue's wallets and positions, at most every ``account_refresh_secs`` (three REST calls). A failed
        read keeps the last state and counts the error: the governor never acts on a half-read account."""
        if self.unconfirmed:
            await resolve_unconfirmed(self)
        if self.venue not in READABLE or not self.ex.apiKey:
            return
        if self._account_ns and now_ns - self._account_ns < self.account_refresh_secs * 1e9:
            return
        try:
            if self.venue == "binance":
                spot = await self.call("fetch_balance", lambda: self.ex.fetch_balance({"type": "spot"}))
                futures = await self.call("fetch_balance", lambda: self.ex.fetch_balance({"type": "future"}))
                positions = await self.call("fetch_positions", self.ex.fetch_positions)
                state = binance_account_state(spot, futures, positions, self.instruments, self.symbols)
            else:
                balance = await self.call("fetch_balance", self.ex.fetch_balance)
                positions = await self.call("fetch_positions", self.ex.fetch_positions)
                parse = bybit_account_state if self.venue == "bybit" else okx_account_state
                state = parse(balance, positions, self.instruments, self.symbols, self.collateral_haircut)
        except VenueError as exc:
            log.warning("venue.account_unread", venue=self.venue, code=exc.code)
            return
        except (MalformedAccount, KeyError, TypeError, AttributeError, IndexError) as exc:
            self.errors["malformed_account"] += 1  # kept: the last whole state (or none) stands
            log.warning("venue.account_malformed", venue=self.venue, reason=type(exc).__name__)
            return
        self._account = state
        self._account_ns = now_ns

    async def transfer(self, t: Transfer) -> None:
        """ccxt's unified ``transfer`` between wallets (``spot`` and the venue's derivatives account), or
        ``add_margin`` into an isolated position. Sent once, never retried: a transfer is not idempotent, and an
        unknown outcome is reported as refused (the next tick reads the margin again and proposes what is still
        missing)."""
        wallet = {"spot": "spot", "derivatives": _DERIVATIVES_ACCOUNT.get(self.venue, "swap"), "unified": "unified"}
        try:
            if t.to_wallet == "isolated":
                symbol = self.symbols[t.instrument_id or ""]
                await self.ex.add_margin(symbol, float(t.amount))
            else:
                await self.ex.transfer(t.asset, float(t.amount), wallet[t.from_wallet], wallet[t.to_wallet])
        except Exception as exc:  # noqa: BLE001 - classified in one place
            _kind, code = classify(exc)
            self.errors[code] += 1
            log.warning("venue.transfer_refused", venue=self.venue, transfer_id=t.transfer_id, code=code)
            self._events.append(TransferUpdate.of(t, TransferStatus.REJECTED, wall_ns(), code))
            return
        self._account_ns = 0  # read the wallets again on the next tick: the margin manager must see the move
        self._events.append(TransferUpdate.of(t, TransferStatus.DONE, wall_ns()))

    async def fetch_positions(self) -> dict[str, Position]:
        """Net positions in base units. Hedge-mode positions (LONG and SHORT sides) are refused: their net is not the
        account's exposure, and carrybot trades one-way mode only."""
        rows = await self.call("fetch_positions", self.ex.fetch_positions)
        out = positions_from(self.venue, rows, self.instruments, self.symbols)
        return out | await self._spot_holdings()

    async def _spot_holdings(self) -> dict[str, Position]:
        """The spot legs as the venue holds them: the traded bases' balances in the spot wallet (Binance) or the
        unified account. The account should be the bot's own (a sub-account): coins another app holds read as a leg."""
        spot = sorted(
            i for i in self.traded if i in self.instruments and self.instruments[i].kind is InstrumentKind.SPOT
        )
        if not spot:
            return {}
        params = {"type": "spot"} if self.venue == "binance" else {}
        bal = await self.call("fetch_balance", partial(self.ex.fetch_balance, params))
        out = {}
        for iid in spot:
            total = (bal.get(self.instruments[iid].base) or {}).get("total")
            if total:
                out[iid] = Position(iid, Decimal(str(total)), ZERO)
        return out

    async def fetch_balance(self) -> Balance:
        """Cash and equity in USDT across the account's wallets (Binance: spot and USDⓈ-M), coins at their perp's
        mark where held; the account model's own figures (``refresh_account``) where the venue is read."""
        if self.venue in READABLE:
            self._account_ns = 0
            await self.refresh_account(wall_ns())
            if self._account is not None:
                return Balance(Decimal(str(self._account.idle)), Decimal(str(self._account.equity)))
        bal = await self.call("fetch_balance", self.ex.fetch_balance)
        quote = "USDT"
        cash = Decimal(str((bal.get(quote) or {}).get("free") or 0))
        equity = Decimal(str((bal.get(quote) or {}).get("total") or 0))
        return Balance(cash, equity)

    async def fetch_order(self, client_order_id: str) -> OrderUpdate | None:
        """The venue's word on an order this run placed (tracked from the store after a restart); None when the venue
        never saw it — a young order is looked up for ``lookup_grace_secs`` first (venues show new orders late)."""
        order = self._find(client_order_id)
        if order is None:
            return None
        cid = venue_client_id(client_order_id, self.venue)
        young = wall_ns() - order.ts_created_ns < 60 * 1_000_000_000
        found = await confirm(self, cid, self.symbols[order.instrument_id], None if young else 0.0)
        if found is UNREADABLE:
            raise VenueError(self.venue, "fetch_order", "unreadable")
        if found is None:
            return None
        return update_from(self, order, found)

    async def fetch_open_orders(self) -> list[Order]:
        """Working orders on the symbols this run trades or placed orders on, asked per symbol (Binance refuses the
        unfiltered call in ccxt): the run's own (known, or carrying its client id prefix — orphans, tracked so they
        can be cancelled); anyone else's are counted and left alone."""
        out: list[Order] = []
        for iid in sorted(self.history_instruments()):
            symbol = self.symbols[iid]
            rows = await self.call("fetch_open_orders", partial(self.ex.fetch_open_orders, symbol))
            for r in rows:
                cid = str(r.get("clientOrderId") or "")
                known = self._orders.get(cid)
                if known is None and self.client_prefix and cid.startswith(self.client_prefix):
                    known = orphan_order(cid, iid, r, self.instruments[iid])
                    self.track([known])
                if known is None:
                    self.counts["foreign_open_orders"] += 1
                    continue
                out.append(known)
        return out

    async def fetch_fills(self, since_ns: int = 0) -> list[Fill]:
        """This run's fills the gateway has not seen yet, from the venue's trade records (``ccxt_history``)."""
        return await read_fills(self, since_ns)

    async def read_trades(self, instrument_id: str, since_ms: int, now_ms: int) -> list[Mapping[str, Any]]:
        """The account's trades on one instrument over a span, paged under the venue's limits (``ccxt_history``)."""
        return await read_trades(self, instrument_id, since_ms, now_ms)

    async def fetch_funding(self, since_ns: int = 0) -> list[FundingPayment]:
        """Funding this run's perpetuals were paid or charged and not booked yet, from the venue's records."""
        return await read_funding(self, since_ns)

    async def poll_funding(self) -> int:
        """New funding payments, booked as events (the live run's loop calls this every minute). The fills first: a
        payment is checked against the position the fills had built, and a fill just before a settlement may not have
        been polled yet (found end to end: a hedge filled 118 ms before one)."""
        await poll_fills(self)
        pays = await self.fetch_funding(self.history_since_ms * 1_000_000)
        self.push_events(list(pays))
        return len(pays)

    def stream_params(self) -> list[dict[str, Any]]:
        """One trade stream per market type the venue keeps apart: Binance's spot and USDⓈ-M user streams."""
        if self.venue != "binance":
            return [{}]
        kinds = {self.instruments[i].kind for i in self.history_instruments()}
        out = [{"type": "spot"}] if InstrumentKind.SPOT in kinds else []
        return out + ([{"type": "future"}] if kinds - {InstrumentKind.SPOT} else [])

    async def fetch_borrow(self, since_ns: int = 0) -> list[BorrowCharge]:
        return []  # spot borrowing is not used live until a venue's margin-interest history is wired (S4 live)

    async def fetch_funding_rate_history(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[tuple[int, float]]:
        """(settlement time ns, rate) for a perpetual, oldest first — real settled rates from the venue."""
        rows = await self.call(
            "fetch_funding_rate_history",
            lambda: self.ex.fetch_funding_rate_history(
                self.symbols[instrument_id], None if since_ns is None else since_ns // 1_000_000
            ),
        )
        return sorted((int(r["timestamp"]) * 1_000_000, float(r["fundingRate"])) for r in rows)

    # --- market data (for the live feed) -----------------------------------------------------------------------------
    async def fetch_quotes(self, instrument_ids: list[str]) -> dict[str, tuple[float, float, float, int]]:
        """(bid, ask, last, venue time in ns) per instrument: best bid/ask in one call per market type where the
        venue has it (``fetchBidsAsks``), else tickers, else one ticker at a time."""
        by_symbol = {self.symbols[i]: i for i in instrument_ids}
        groups: dict[str, list[str]] = {}
        for iid in instrument_ids:  # venues answer one market type per call (Binance: spot vs USDT-M)
            groups.setdefault(self.instruments[iid].kind.value, []).append(self.symbols[iid])
        rows: dict[str, Any] = {}
        for symbols in groups.values():
            if self.ex.has.get("fetchBidsAsks"):
                rows |= await self.call("fetch_bids_asks", partial(self.ex.fetch_bids_asks, symbols))
            elif self.ex.has.get("fetchTickers"):
                rows |= await self.call("fetch_tickers", partial(self.ex.fetch_tickers, symbols))
            else:
                for sym in symbols:
                    rows[sym] = await self.call("fetch_ticker", partial(self.ex.fetch_ticker, sym))
        out = {}
        for sym, t in rows.items():
            quoted = by_symbol.get(sym)
            if quoted is None or t.get("bid") is None or t.get("ask") is None:
                continue
            last = t.get("last") if t.get("last") is not None else (t["bid"] + t["ask"]) / 2
            out[quoted] = (float(t["bid"]), float(t["ask"]), float(last), int(t.get("timestamp") or 0) * 1_000_000)
        return out

    async def fetch_open_interest(self, instrument_id: str) -> float | None:
        """Open interest in base units (None where the venue does not publish it)."""
        if not self.ex.has.get("fetchOpenInterest"):
            return None
        r = await self.call("fetch_open_interest", lambda: self.ex.fetch_open_interest(self.symbols[instrument_id]))
        if r.get("baseVolume") is not None:  # ccxt: open interest in base currency
            return float(r["baseVolume"])
        if r.get("openInterestAmount") is not None:  # in contracts
            return float(r["openInterestAmount"]) * float(self.instruments[instrument_id].contract_size)
        return None

    async def resolve_funding_interval(self, instrument_id: str) -> tuple[int | None, str]:
        """The perpetual's funding interval from the venue, never assumed (``bot/venues/ccxt_intervals.py``)."""
        from bot.venues.ccxt_intervals import resolve_funding_interval

        return await resolve_funding_interval(self, instrument_id)

    async def fetch_funding_now(self, instrument_id: str) -> dict[str, Any]:
        """The rate in force, the venue's prediction where it gives one, the next settlement time and the
        interval (from the venue, never assumed)."""
        r = await self.call("fetch_funding_rate", lambda: self.ex.fetch_funding_rate(self.symbols[instrument_id]))
        interval = _interval_secs(r.get("interval"))
        info = r.get("info") or {}
        return {
            "rate": r.get("fundingRate"),
            "predicted": r.get("nextFundingRate"),
            "open_interest": float(info["openInterest"]) if info.get("openInterest") not in (None, "") else None,
            "ts_next_ns": int(r["fundingTimestamp"]) * 1_000_000 if r.get("fundingTimestamp") else None,
            "interval_secs": interval,
            "mark": r.get("markPrice"),
            "index": r.get("indexPrice"),
        }

    # --- internals ------------------------------------------------------------------------------------------------
    async def call(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """A read-only call: transient errors are retried with jittered backoff; anything else, or the last
        failure, raises the bot's ``VenueError`` for it (the venue's text stays out of logs)."""

        def retryable(exc: BaseException) -> bool:
            kind, code = classify(exc)
            self.errors[code] += 1
            return kind is ErrorKind.RETRY

        try:
            return await retry(
                fn,
                retryable=retryable,
                attempts=self.max_retries + 1,
                backoff=self.new_backoff(),
                sleep=self.sleep,
                on_retry=lambda e: self.retries.update([classify(e)[1]]),
            )
        except Exception as exc:  # noqa: BLE001 - classified in one place
            err = venue_error(self.venue, what, exc)
            log.warning("venue.error", venue=self.venue, call=what, code=err.code)
            raise err from None

    def new_backoff(self) -> Backoff:
        return Backoff(self._backoff, cap=self._backoff * 2**self.max_retries)

    def push_events(self, events: list[VenueEvent]) -> None:
        """Events found outside the gateway's own calls (the live fill loop), drained with the rest."""
        self._events.extend(events)

    async def lookup(self, cid: str, symbol: str) -> dict[str, Any] | None:
        """Find an order by client id (after a timeout or an unreadable answer); None when the venue has none."""
        self.lookups += 1
        try:
            if self.venue == "bybit":  # by orderLinkId among open orders, then closed ones of every end state (ccxt's
                # fetch_closed_orders asks for filled ones only: an order Bybit cancelled itself, a post-only that
                # would have taken, read as never seen)
                for call in ("fetch_open_orders", "fetch_canceled_and_closed_orders"):
                    rows = await self.call(
                        call, partial(getattr(self.ex, call), symbol, None, None, {"orderLinkId": cid})
                    )
                    found = next((r for r in rows if r.get("clientOrderId") == cid), None)
                    if found is not None:
                        return dict(found)
                return None
            order = await self.call("fetch_order", lambda: self.ex.fetch_order(None, symbol, self._cid_params(cid)))
            return None if order is None else dict(order)
        except VenueError as exc:
            if exc.code in NOT_THERE:
                return None
            raise

    def _cid_params(self, cid: str) -> dict[str, Any]:
        return {"clientOrderId": cid}

    def _find(self, client_order_id: str) -> Order | None:
        return next((o for o in self._orders.values() if o.client_order_id == client_order_id), None)

    def tracked_orders(self) -> list[Order]:
        return list(self._orders.values())

    def tracked_order(self, venue_cid: str) -> Order | None:
        return self._orders.get(venue_cid)

    def history_instruments(self) -> set[str]:
        """The instruments whose records belong to this run: those it trades and those it placed orders on."""
        placed = {o.instrument_id for o in self._orders.values() if o.instrument_id in self.symbols}
        return (self.traded & set(self.symbols)) | placed


__all__ = ["VENUE_OPTIONS", "CcxtGateway", "configure", "market_to_instrument", "venue_client_id"]
