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
from collections.abc import Awaitable, Callable, Mapping
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
)
from bot.venues.ccxt_fills import FillTracker
from bot.venues.ccxt_markets import (
    VENUE_OPTIONS,
    configure,
    market_funding_interval,
    market_to_instrument,
    venue_client_id,
)
from bot.venues.ccxt_markets import interval_secs as _interval_secs
from bot.venues.errors import ErrorKind, classify, venue_error
from bot.venues.gateway import Balance

log = get_logger(__name__)

_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.CANCELED,
}


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
        self._max_retries = max_retries
        self._backoff = backoff_secs
        self._sleep = sleep
        self._events: list[VenueEvent] = []
        self.symbols: dict[str, str] = {}  # instrument id -> ccxt symbol (read by the feeds and fill loops)
        self._leverage: dict[str, int] = {}
        self._orders: dict[str, Order] = {}
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
        symbol = self.symbols[order.instrument_id]
        cid = venue_client_id(order.client_order_id, self.venue)
        self._orders[cid] = order
        self.fills.placed(cid, order)
        if order.leverage and self.ex.has.get("setLeverage") and self._leverage.get(symbol) != order.leverage:
            try:
                await self.call("set_leverage", lambda: self.ex.set_leverage(order.leverage, symbol))
                self._leverage[symbol] = order.leverage
            except VenueError as exc:
                self._reject(order, exc.code)
                return
        params: dict[str, Any] = {"clientOrderId": cid}
        if order.post_only:
            params["postOnly"] = True
        if order.reduce_only:
            params["reduceOnly"] = True
        price = float(order.limit_price) if order.limit_price is not None else None
        inst = self.instruments[order.instrument_id]
        amount = float(order.qty / inst.contract_size) if inst.is_derivative else float(order.qty)  # ccxt: contracts
        backoff = self._new_backoff()
        for attempt in range(self._max_retries + 1):
            try:
                resp = await self.ex.create_order(
                    symbol, order.order_type.value, order.side.value, amount, price, params
                )
            except Exception as exc:  # noqa: BLE001 - classified in one place just below
                kind, code = classify(exc)
                self.errors[code] += 1
                if kind is ErrorKind.REJECT or kind is ErrorKind.STOP:
                    log.warning("venue.rejected", venue=self.venue, client_order_id=cid, code=code)
                    self._reject(order, code)
                    return
                # timeout or unreadable answer: the order may exist. Look before resending (never place twice).
                found = await self._lookup(cid, symbol)
                if found is not None:
                    self._accept(order, found)
                    return
                if kind is ErrorKind.UNKNOWN or attempt == self._max_retries:
                    self._reject(order, code)
                    return
                self.retries[code] += 1
                await backoff.wait(self._sleep)
                continue
            if not resp.get("id"):  # an answer without the venue's order id: the outcome is unknown, so look
                self.errors["bad_response"] += 1
                found = await self._lookup(cid, symbol)
                if found is None:
                    self._reject(order, "bad_response")
                    return
                resp = found
            self._accept(order, resp)
            return

    async def cancel(self, client_order_id: str) -> None:
        order = next((o for c, o in self._orders.items() if o.client_order_id == client_order_id), None)
        if order is None:
            return
        cid = venue_client_id(client_order_id, self.venue)
        try:
            await self.call(
                "cancel_order",
                lambda: self.ex.cancel_order(None, self.symbols[order.instrument_id], {"clientOrderId": cid}),
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
            self._events.append(self._transfer_update(t, TransferStatus.REJECTED, code))
            return
        self._account_ns = 0  # read the wallets again on the next tick: the margin manager must see the move
        self._events.append(self._transfer_update(t, TransferStatus.DONE, ""))

    def _transfer_update(self, t: Transfer, status: TransferStatus, reason: str) -> TransferUpdate:
        return TransferUpdate(
            self.venue,
            t.transfer_id,
            status,
            t.asset,
            t.amount,
            t.from_wallet,
            t.to_wallet,
            wall_ns(),
            t.instrument_id,
            reason,
        )

    async def fetch_positions(self) -> dict[str, Position]:
        rows = await self.call("fetch_positions", self.ex.fetch_positions)
        by_symbol = {v: k for k, v in self.symbols.items()}
        out = {}
        for p in rows:
            iid = by_symbol.get(p["symbol"])
            if iid is None or not p.get("contracts"):
                continue
            qty = Decimal(str(p["contracts"])) * Decimal(str(p.get("contractSize") or 1))
            if p.get("side") == "short":
                qty = -qty
            out[iid] = Position(iid, qty, Decimal(str(p.get("entryPrice") or 0)))
        return out

    async def fetch_balance(self) -> Balance:
        bal = await self.call("fetch_balance", self.ex.fetch_balance)
        quote = "USDT"
        cash = Decimal(str((bal.get(quote) or {}).get("free") or 0))
        equity = Decimal(str((bal.get(quote) or {}).get("total") or 0))
        return Balance(cash, equity)

    async def fetch_order(self, client_order_id: str) -> OrderUpdate | None:
        order = self._find(client_order_id)
        if order is None:
            return None
        found = await self._lookup(venue_client_id(client_order_id, self.venue), self.symbols[order.instrument_id])
        if found is None:
            return None
        return self._update_from(order, found)

    async def fetch_open_orders(self) -> list[Order]:
        rows = await self.call("fetch_open_orders", self.ex.fetch_open_orders)
        known = {venue_client_id(o.client_order_id, self.venue): o for o in self._orders.values()}
        return [known[r["clientOrderId"]] for r in rows if r.get("clientOrderId") in known]

    async def fetch_fills(self, since_ns: int = 0) -> list[Fill]:
        """The bot's fills since ``since_ns`` (reconciliation after a restart), amounts in base units."""
        out: list[Fill] = []
        tracker = FillTracker(self.venue)  # a fresh view: recovery decides what is new, not the live tracker
        tracker.by_venue_cid, tracker.by_venue_id = self.fills.by_venue_cid, self.fills.by_venue_id
        for iid, symbol in self.symbols.items():
            if not any(o.instrument_id == iid for o in self._orders.values()):
                continue
            trades = await self.call(
                "fetch_my_trades", partial(self.ex.fetch_my_trades, symbol, since_ns // 1_000_000 or None)
            )
            out.extend(e for e in tracker.ingest(trades, self.instruments, wall_ns()) if isinstance(e, Fill))
        return out

    async def fetch_funding(self, since_ns: int = 0) -> list[FundingPayment]:
        if not self.ex.has.get("fetchFundingHistory"):
            return []
        out = []
        by_symbol = {v: k for k, v in self.symbols.items()}
        for r in await self.call(
            "fetch_funding_history", lambda: self.ex.fetch_funding_history(None, since_ns // 1_000_000 or None)
        ):
            iid = by_symbol.get(r.get("symbol"))
            if iid is not None:
                out.append(
                    FundingPayment(
                        self.venue, iid, int(r["timestamp"]) * 1_000_000, ZERO, ZERO, ZERO, Decimal(str(r["amount"]))
                    )
                )
        return out

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
                attempts=self._max_retries + 1,
                backoff=self._new_backoff(),
                sleep=self._sleep,
                on_retry=lambda e: self.retries.update([classify(e)[1]]),
            )
        except Exception as exc:  # noqa: BLE001 - classified in one place
            err = venue_error(self.venue, what, exc)
            log.warning("venue.error", venue=self.venue, call=what, code=err.code)
            raise err from None

    def _new_backoff(self) -> Backoff:
        return Backoff(self._backoff, cap=self._backoff * 2**self._max_retries)

    def push_events(self, events: list[VenueEvent]) -> None:
        """Events found outside the gateway's own calls (the live fill loop), drained with the rest."""
        self._events.extend(events)

    async def _lookup(self, cid: str, symbol: str) -> dict[str, Any] | None:
        """Find an order by client id (after a timeout or an unreadable answer); None when the venue has none."""
        self.lookups += 1
        try:
            if self.venue == "bybit":  # by orderLinkId among open, then recent closed orders
                for call in ("fetch_open_orders", "fetch_closed_orders"):
                    rows = await self.call(
                        call, partial(getattr(self.ex, call), symbol, None, None, {"orderLinkId": cid})
                    )
                    found = next((r for r in rows if r.get("clientOrderId") == cid), None)
                    if found is not None:
                        return dict(found)
                return None
            order = await self.call("fetch_order", lambda: self.ex.fetch_order(None, symbol, {"clientOrderId": cid}))
            return None if order is None else dict(order)
        except VenueError as exc:
            if exc.code in ("order_not_found", "bad_request", "invalid_order"):
                return None
            raise

    def _find(self, client_order_id: str) -> Order | None:
        return next((o for o in self._orders.values() if o.client_order_id == client_order_id), None)

    def _update_from(self, order: Order, r: Mapping[str, Any]) -> OrderUpdate:
        filled = Decimal(str(r.get("filled") or 0))
        status = _STATUS.get(r.get("status") or "open", OrderStatus.ACCEPTED)
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        return OrderUpdate(self.venue, order.client_order_id, status, filled, wall_ns(), "")

    def _accept(self, order: Order, r: Mapping[str, Any]) -> None:
        self.fills.accepted(order, r.get("id"))
        self._events.append(self._update_from(order, r))

    def _reject(self, order: Order, code: str) -> None:
        self._events.append(OrderUpdate(self.venue, order.client_order_id, OrderStatus.REJECTED, ZERO, wall_ns(), code))


__all__ = ["VENUE_OPTIONS", "CcxtGateway", "configure", "market_to_instrument", "venue_client_id"]
