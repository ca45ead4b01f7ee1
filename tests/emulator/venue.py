"""The state a venue keeps for one account, independent of any venue's wire format: wallets, orders, matching against
a price path, trades, positions (one-way or hedge), leverage, margin mode, funding settlements and income records.

A dialect (``tests/emulator/binance.py``...) turns REST requests into calls on this state and the state into the
venue's own JSON. Nothing here knows the bot: the emulator answers ccxt exactly as far as the venue's documented
rules go, so a gateway that works against it works for the reasons it would work against the venue.

Money is ``Decimal``; time is the emulator's clock in ms (``now_ms``), which tests move with ``advance``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)
Market = Literal["spot", "linear"]


class VenueReject(Exception):
    """The venue refused a request: ``code`` and ``msg`` as the venue words them, ``status`` its HTTP status."""

    def __init__(self, code: int | str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(frozen=True, slots=True)
class Rules:
    """A market's trading rules, as the venue states them (from the recorded exchange info)."""

    symbol: str
    market: Market
    base: str
    quote: str
    qty_step: Decimal
    min_qty: Decimal
    price_tick: Decimal
    min_notional: Decimal
    contract_size: Decimal = Decimal(1)


@dataclass(slots=True)
class EmuOrder:
    order_id: int
    client_id: str
    market: Market
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # "market" | "limit"
    qty: Decimal  # in the venue's units (base for spot and Binance linear; contracts where the venue counts them)
    price: Decimal | None
    post_only: bool
    reduce_only: bool
    position_side: str  # "BOTH" (one-way) | "LONG" | "SHORT"
    created_ms: int
    status: str = "new"  # new | partially_filled | filled | canceled | expired | rejected
    filled: Decimal = ZERO
    cum_quote: Decimal = ZERO
    updated_ms: int = 0
    reject_reason: str = ""  # why the venue cancelled it on its own (Bybit: a post-only that would take)

    @property
    def open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.filled if self.filled else ZERO


@dataclass(frozen=True, slots=True)
class EmuTrade:
    trade_id: int
    order_id: int
    client_id: str
    market: Market
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time_ms: int
    realized_pnl: Decimal
    position_side: str


@dataclass(frozen=True, slots=True)
class Income:
    tran_id: int
    symbol: str
    kind: str  # FUNDING_FEE | COMMISSION | REALIZED_PNL | TRANSFER
    amount: Decimal
    asset: str
    time_ms: int
    rate: Decimal = ZERO
    position_qty: Decimal = ZERO
    mark: Decimal = ZERO


@dataclass(slots=True)
class Position:
    qty: Decimal = ZERO  # signed, venue units
    entry: Decimal = ZERO


@dataclass(slots=True)
class Faults:
    """Trouble injected per request path: each entry is consumed by one request, in order.

    ``"429"``, ``"503"``: the request is refused with that status before it takes effect. ``"timeout"``: the request
    takes effect, the answer comes after the client gave up. ``"drop"``: the request takes effect and the connection
    is closed without an answer."""

    by_path: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, *faults: str) -> None:
        self.by_path.setdefault(path, []).extend(faults)

    def take(self, path: str) -> str | None:
        script = self.by_path.get(path)
        return script.pop(0) if script else None


class Account:
    """One account at one venue. ``wallets`` maps a wallet name ("spot", "futures", "unified") to asset balances;
    ``wallet_of`` names the wallet each market trades from (Binance: spot and futures apart; a unified account, Bybit's
    or OKX's, trades both from one, where a spot buy spends the margin perpetuals need too)."""

    def __init__(
        self,
        rules: dict[tuple[Market, str], Rules],
        wallets: dict[str, dict[str, Decimal]],
        taker_fee: Decimal = Decimal("0.0005"),
        maker_fee: Decimal = Decimal("0.0002"),
        spot_taker_fee: Decimal = Decimal("0.001"),
        spot_maker_fee: Decimal = Decimal("0.001"),
        clock_ms: int | None = None,
        wallet_of: dict[Market, str] | None = None,
    ) -> None:
        self.rules = rules
        self.wallets = wallets
        self.wallet_of: dict[Market, str] = wallet_of or {"spot": "spot", "linear": "futures"}
        self.taker_fee, self.maker_fee = taker_fee, maker_fee
        self.spot_taker_fee, self.spot_maker_fee = spot_taker_fee, spot_maker_fee
        self._clock_ms = clock_ms  # None: wall time
        self.prices: dict[tuple[Market, str], Decimal] = {}
        self.orders: list[EmuOrder] = []
        self.trades: list[EmuTrade] = []
        self.income: list[Income] = []
        self.positions: dict[tuple[str, str], Position] = {}  # (symbol, position side) -> position (linear)
        self.leverage: dict[str, int] = {}
        self.margin_mode: dict[str, str] = {}  # symbol -> "cross" | "isolated"
        self.hedge_mode = False
        self.half_spread = Decimal(0)  # the book's bid and ask either side of the price, as a fraction
        self.collateral_haircut = Decimal("0.05")  # a unified account's coins as margin: their value less this share
        self.lookup_delay_ms = 0  # eventual consistency: a new order is unknown to lookups for this long
        self.partial_fill = Decimal(1)  # share of an order's remaining quantity one match fills
        self.submissions: list[dict[str, str]] = []  # every order request received, accepted or not (a journal)
        self.faults = Faults()
        self._ids = itertools.count(10_000_001)
        self._trade_ids = itertools.count(500_000_001)
        self._tran_ids = itertools.count(900_000_001)

    # --- time and prices ------------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self._clock_ms if self._clock_ms is not None else time.time_ns() // 1_000_000

    def set_clock(self, ms: int | None) -> None:
        """The venue's time: a fixed ms (moved by ``advance``), or None for wall time."""
        self._clock_ms = ms

    def advance(self, ms: int) -> None:
        self._clock_ms = self.now_ms() + ms

    def set_price(self, market: Market, symbol: str, price: Decimal) -> None:
        """The market moved: resting limit orders the new touch crosses fill (as makers, at their limit)."""
        self.prices[(market, symbol)] = price
        for o in list(self.orders):
            if o.open and o.market == market and o.symbol == symbol and o.type == "limit" and self._crosses(o):
                self._execute(o, o.price or price, maker=True)

    def touch(self, market: Market, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask): the price less and plus the half spread, on the market's tick."""
        p, tick = self.price(market, symbol), self.rules[(market, symbol)].price_tick
        off = max(tick, (p * self.half_spread / tick).to_integral_value() * tick) if self.half_spread else Decimal(0)
        return p - off, p + off

    def price(self, market: Market, symbol: str) -> Decimal:
        p = self.prices.get((market, symbol))
        if p is None:
            raise VenueReject(-1121, "Invalid symbol.")
        return p

    # --- orders ---------------------------------------------------------------------------------------------------
    def place(
        self,
        market: Market,
        symbol: str,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        client_id: str,
        post_only: bool = False,
        reduce_only: bool = False,
        position_side: str = "BOTH",
    ) -> EmuOrder:
        rules = self.rules.get((market, symbol))
        if rules is None:
            raise VenueReject(-1121, "Invalid symbol.")
        if any(o.client_id == client_id and o.symbol == symbol for o in self.orders if o.open):
            raise VenueReject(-4015, "Client order id is not valid.")  # duplicate of a working order's id
        if qty <= 0 or qty < rules.min_qty or (qty / rules.qty_step) % 1 != 0:
            raise VenueReject(-1013, "Filter failure: LOT_SIZE")
        mark = self.price(market, symbol)
        if price is not None and (price / rules.price_tick) % 1 != 0:
            raise VenueReject(-1013, "Filter failure: PRICE_FILTER")
        if not reduce_only and qty * rules.contract_size * (price or mark) < rules.min_notional:
            raise VenueReject(-1013, "Filter failure: NOTIONAL")
        if market == "linear":
            if self.hedge_mode and position_side == "BOTH":
                raise VenueReject(-4061, "Order's position side does not match user's setting.")
            if not self.hedge_mode and position_side != "BOTH":
                raise VenueReject(-4061, "Order's position side does not match user's setting.")
            if reduce_only:
                pos = self.positions.get((symbol, position_side), Position()).qty
                if pos == 0 or (side == "buy") == (pos > 0) or qty > abs(pos):
                    raise VenueReject(-2022, "ReduceOnly Order is rejected.")
        now = self.now_ms()
        o = EmuOrder(
            next(self._ids),
            client_id,
            market,
            symbol,
            side,
            type_,
            qty,
            price,
            post_only,
            reduce_only,
            position_side,
            now,
            updated_ms=now,
        )
        marketable = type_ == "market" or self._crosses(o)
        if post_only and marketable:
            raise VenueReject(
                -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected."
            )
        self._check_funds(o, mark)
        self.orders.append(o)
        if marketable:
            bid, ask = self.touch(market, symbol)
            self._execute(o, ask if side == "buy" else bid, maker=False)
        return o

    def accept_cancelled(
        self, market: Market, symbol: str, side: str, qty: Decimal, price: Decimal | None, client_id: str, reason: str
    ) -> EmuOrder:
        """An order the venue takes and cancels at once (its record exists; nothing filled): Bybit's answer to a
        post-only order that would take."""
        now = self.now_ms()
        o = EmuOrder(next(self._ids), client_id, market, symbol, side, "limit", qty, price, True, False, "BOTH", now)
        o.status, o.updated_ms, o.reject_reason = "canceled", now, reason
        self.orders.append(o)
        return o

    def cancel(self, symbol: str, client_id: str | None = None, order_id: int | None = None) -> EmuOrder:
        o = self.find(symbol, client_id, order_id, visible_only=False)
        if o is None or not o.open:
            raise VenueReject(-2011, "Unknown order sent.")
        o.status, o.updated_ms = "canceled", self.now_ms()
        return o

    def find(
        self, symbol: str | None, client_id: str | None = None, order_id: int | None = None, visible_only: bool = True
    ) -> EmuOrder | None:
        cutoff = self.now_ms() - self.lookup_delay_ms
        for o in reversed(self.orders):
            if symbol is not None and o.symbol != symbol:
                continue
            if (client_id is not None and o.client_id == client_id) or (
                order_id is not None and o.order_id == order_id
            ):
                if visible_only and o.created_ms > cutoff:
                    return None  # accepted, not yet visible to queries (eventual consistency)
                return o
        return None

    def open_orders(self, market: Market, symbol: str | None) -> list[EmuOrder]:
        cutoff = self.now_ms() - self.lookup_delay_ms
        return [
            o
            for o in self.orders
            if o.open and o.market == market and (symbol is None or o.symbol == symbol) and o.created_ms <= cutoff
        ]

    # --- funding --------------------------------------------------------------------------------------------------
    def settle_funding(self, symbol: str, rate: Decimal) -> list[Income]:
        """A funding settlement on the perpetual ``symbol`` at ``rate``: longs pay shorts when it is positive, on
        position × contract size × mark; each position gets an income record."""
        rules = self.rules[("linear", symbol)]
        mark = self.price("linear", symbol)
        out = []
        for (sym, _side), pos in self.positions.items():
            if sym != symbol or pos.qty == 0:
                continue
            amount = (-pos.qty * rules.contract_size * mark * rate).quantize(Decimal("0.00000001"))
            self._credit(self.wallet_of["linear"], rules.quote, amount)
            inc = Income(
                next(self._tran_ids), symbol, "FUNDING_FEE", amount, rules.quote, self.now_ms(), rate, pos.qty, mark
            )
            self.income.append(inc)
            out.append(inc)
        return out

    def transfer(self, asset: str, amount: Decimal, from_wallet: str, to_wallet: str) -> int:
        if amount <= 0:
            raise VenueReject(-1102, "Mandatory parameter 'amount' was not sent, was empty/null, or malformed.")
        if self.wallets.get(from_wallet, {}).get(asset, ZERO) < amount:
            raise VenueReject(-5013, "Asset transfer failed: insufficient balance")
        self._credit(from_wallet, asset, -amount)
        self._credit(to_wallet, asset, amount)
        return next(self._tran_ids)

    # --- derived views --------------------------------------------------------------------------------------------
    def unrealized(self, symbol: str, side: str = "BOTH") -> Decimal:
        pos = self.positions.get((symbol, side), Position())
        if pos.qty == 0:
            return ZERO
        rules = self.rules[("linear", symbol)]
        return (self.price("linear", symbol) - pos.entry) * pos.qty * rules.contract_size

    def initial_margin(self, symbol: str, side: str = "BOTH") -> Decimal:
        pos = self.positions.get((symbol, side), Position())
        rules = self.rules[("linear", symbol)]
        return abs(pos.qty) * rules.contract_size * self.price("linear", symbol) / self.leverage.get(symbol, 20)

    def open_order_margin(self, symbol: str | None = None) -> Decimal:
        total = ZERO
        for o in self.orders:
            if o.open and o.market == "linear" and not o.reduce_only and (symbol is None or o.symbol == symbol):
                rules = self.rules[("linear", o.symbol)]
                px = o.price or self.price("linear", o.symbol)
                total += (o.qty - o.filled) * rules.contract_size * px / self.leverage.get(o.symbol, 20)
        return total

    def futures_available(self, quote: str = "USDT") -> Decimal:
        """Margin free for perpetual orders: the quote balance plus unrealized PnL less the margin positions and open
        orders hold; a unified account's coins count too, at their spot price less ``collateral_haircut``."""
        wallet = self.wallets.get(self.wallet_of["linear"], {})
        bal = wallet.get(quote, ZERO)
        if self.wallet_of["spot"] == self.wallet_of["linear"]:
            for coin, qty in wallet.items():
                px = self.prices.get(("spot", f"{coin}{quote}")) if coin != quote and qty > 0 else None
                if px is not None:
                    bal += qty * px * (1 - self.collateral_haircut)
        upnl = sum((self.unrealized(s, side) for (s, side) in self.positions), ZERO)
        im = sum((self.initial_margin(s, side) for (s, side) in self.positions), ZERO)
        return bal + upnl - im - self.open_order_margin()

    # --- internals ------------------------------------------------------------------------------------------------
    def _crosses(self, o: EmuOrder) -> bool:
        """A market order, or a limit the other side of the book reaches (a buy at or above the ask...)."""
        if o.price is None:
            return True
        bid, ask = self.touch(o.market, o.symbol)
        return ask <= o.price if o.side == "buy" else bid >= o.price

    def _check_funds(self, o: EmuOrder, mark: Decimal) -> None:
        rules = self.rules[(o.market, o.symbol)]
        px = o.price if o.price is not None and o.type == "limit" else mark
        if o.market == "spot":
            spot = self.wallets.get(self.wallet_of["spot"], {})
            locked_quote = sum(
                (
                    (x.qty - x.filled) * (x.price or ZERO)
                    for x in self.orders
                    if x.open and x.market == "spot" and x.side == "buy"
                ),
                ZERO,
            )
            locked_base = sum(
                (
                    x.qty - x.filled
                    for x in self.orders
                    if x.open and x.market == "spot" and x.side == "sell" and x.symbol == o.symbol
                ),
                ZERO,
            )
            cash = spot.get(rules.quote, ZERO)
            if self.wallet_of["spot"] == self.wallet_of["linear"]:  # unified: what perpetuals' margin leaves free
                cash = min(cash, self.futures_available(rules.quote))
            if o.side == "buy" and cash - locked_quote < o.qty * px * (1 + self.spot_taker_fee):
                raise VenueReject(-2010, "Account has insufficient balance for requested action.")
            if o.side == "sell" and spot.get(rules.base, ZERO) - locked_base < o.qty:
                raise VenueReject(-2010, "Account has insufficient balance for requested action.")
            return
        if o.reduce_only:
            return
        pos = self.positions.get((o.symbol, o.position_side), Position()).qty
        opening = (
            o.qty if self.hedge_mode or pos == 0 or (o.side == "buy") == (pos > 0) else max(ZERO, o.qty - abs(pos))
        )
        need = opening * rules.contract_size * px / self.leverage.get(o.symbol, 20)
        if need > self.futures_available():
            raise VenueReject(-2019, "Margin is insufficient.")

    def _credit(self, wallet: str, asset: str, amount: Decimal) -> None:
        w = self.wallets.setdefault(wallet, {})
        w[asset] = w.get(asset, ZERO) + amount

    def _execute(self, o: EmuOrder, price: Decimal, maker: bool) -> None:
        remaining = o.qty - o.filled
        rules = self.rules[(o.market, o.symbol)]
        qty = (
            remaining
            if self.partial_fill >= 1
            else max(rules.qty_step, (remaining * self.partial_fill // rules.qty_step) * rules.qty_step)
        )
        qty = min(qty, remaining)
        now = self.now_ms()
        notional = qty * rules.contract_size * price
        realized = ZERO
        if o.market == "spot":
            rate = self.spot_maker_fee if maker else self.spot_taker_fee
            if o.side == "buy":  # the fee is taken from what is received: the base asset (Binance, no BNB)
                fee, fee_asset = (qty * rate).quantize(Decimal("0.00000001")), rules.base
                self._credit(self.wallet_of["spot"], rules.quote, -notional)
                self._credit(self.wallet_of["spot"], rules.base, qty - fee)
            else:
                fee, fee_asset = (notional * rate).quantize(Decimal("0.00000001")), rules.quote
                self._credit(self.wallet_of["spot"], rules.base, -qty)
                self._credit(self.wallet_of["spot"], rules.quote, notional - fee)
        else:
            rate = self.maker_fee if maker else self.taker_fee
            fee, fee_asset = (notional * rate).quantize(Decimal("0.00000001")), rules.quote
            realized = self._move_position(o, qty, price)
            self._credit(self.wallet_of["linear"], rules.quote, realized - fee)
            self.income.append(Income(next(self._tran_ids), o.symbol, "COMMISSION", -fee, fee_asset, now))
            if realized:
                self.income.append(Income(next(self._tran_ids), o.symbol, "REALIZED_PNL", realized, fee_asset, now))
        o.filled += qty
        o.cum_quote += qty * rules.contract_size * price
        o.status = "filled" if o.filled >= o.qty else "partially_filled"
        o.updated_ms = now
        side = o.side
        self.trades.append(
            EmuTrade(
                next(self._trade_ids),
                o.order_id,
                o.client_id,
                o.market,
                o.symbol,
                side,
                qty,
                price,
                fee,
                fee_asset,
                maker,
                now,
                realized,
                o.position_side,
            )
        )
        if o.type == "market" and o.status == "partially_filled":
            self._execute(o, price, maker)  # a market order sweeps on: partial fills are for resting orders

    def _move_position(self, o: EmuOrder, qty: Decimal, price: Decimal) -> Decimal:
        rules = self.rules[("linear", o.symbol)]
        pos = self.positions.setdefault((o.symbol, o.position_side), Position())
        signed = qty if o.side == "buy" else -qty
        realized = ZERO
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):  # opening or adding: a new average entry
            total = pos.qty + signed
            pos.entry = (pos.entry * abs(pos.qty) + price * qty) / abs(total)
            pos.qty = total
            return ZERO
        closing = min(abs(signed), abs(pos.qty))
        realized = (price - pos.entry) * closing * rules.contract_size * (1 if pos.qty > 0 else -1)
        rest = pos.qty + signed
        if rest == 0:
            pos.qty, pos.entry = ZERO, ZERO
        elif (rest > 0) == (pos.qty > 0):
            pos.qty = rest
        else:  # flipped through zero: the rest opens at this price
            pos.qty, pos.entry = rest, price
        return realized
