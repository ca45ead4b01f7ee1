"""Paper venue (SPEC §4): the gateway interface over a simulated exchange account.

Matching: market orders take the snapshot's touch (bid/ask from the feed's spread model) plus slippage
(fixed bps + impact per million of notional); with ``partial_fill_fraction`` < 1 they fill in slices, one per
tick. Limit orders that cross fill as taker (post-only ones are rejected instead); resting ones fill as maker at
their price once a later bar's range trades through it. Fees by the instrument's maker/taker schedule; latency
through the clock. Funding is settled on open perp positions at the feed's settlement times
(``payment = −qty × mark × rate``: shorts receive when the rate is positive). The account is kept as the venue
keeps it (``bot.accounts``): split (spot wallet + derivatives wallet) or unified (spot coins are collateral at a
haircut); each perp position cross or isolated; liquidated where the venue would liquidate it — an isolated one at
``P(1 − 1/L)/(1 − m)`` (long) or ``P(1 + 1/L)/(1 + m)`` (short) from its posted margin, a cross one when its margin
account's balance falls to its maintenance margin. Transfers between wallets, and into an isolated position's margin,
move no equity. The account (wallets, holdings, positions, open orders) belongs to the venue, not to the bot.
"""

from __future__ import annotations

from decimal import Decimal

from bot.accounts import (
    AccountState,
    MarginMode,
    Wallet,
    margin_wallet,
    spot_wallet,
)
from bot.domain import (
    NS_PER_SEC,
    SECS_PER_YEAR,
    ZERO,
    BorrowCharge,
    Fill,
    FundingPayment,
    Instrument,
    InstrumentKind,
    Liquidity,
    MarketBatch,
    MarketSnapshot,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
    Transfer,
    TransferStatus,
    TransferUpdate,
    VenueEvent,
    to_decimal,
)
from bot.venues.gateway import Balance
from bot.venues.paper_journal import encode
from bot.venues.paper_state import PaperParams, PaperState, PerpPos, Working

__all__ = ["PaperParams", "PaperVenue"]


class PaperVenue(PaperState):
    """A simulated account on one venue: matching, fees, slippage, latency, funding, liquidation, expiry."""

    # --- gateway protocol -------------------------------------------------------------------------------------
    def observe(self, batch: MarketBatch) -> None:
        if batch.ts_ns <= self.last_observed_ns:
            return  # the venue has lived through this moment already (a restarted bot replays it to warm up)
        self.last_observed_ns = batch.ts_ns
        self._state_cache = None  # new marks
        self._observe(batch)
        if self._unjournaled:
            # every change to the account emits an event; a tick that changed nothing is not journaled (it only
            # replaced the venue's copy of the books: a venue restored to an earlier moment lives through it
            # again, or through the next tick, with the same outcome)
            self._persist()

    def _observe(self, batch: MarketBatch) -> None:
        books = self._books
        derivs = []
        for snap in batch.snapshots:  # every book first: a cross account is valued at this tick's marks
            inst = self._inst.get(snap.instrument_id)
            if inst is None:
                continue
            books[snap.instrument_id] = snap
            if self._borrow_since and snap.instrument_id in self._borrow_since:
                self._charge_borrow(inst, snap)
            if inst.is_derivative and snap.instrument_id in self.perps:
                derivs.append((inst, snap))
        # the bar's range came before its settlement: every position's liquidation is judged on it first (on one
        # account state), then the survivors settle funding
        settle = []
        for inst, snap in derivs:
            pos = self.perps.get(snap.instrument_id)
            if pos is None:
                continue
            if inst.ts_expiry_ns is not None and snap.ts_ns >= inst.ts_expiry_ns:
                self._settle_expiry(inst, pos, snap)
                continue
            if snap.range_high is not None and self._maybe_liquidate(inst, pos, snap):
                continue
            if snap.settlement is not None:
                settle.append((inst, pos, snap))
        for inst, pos, snap in settle:
            self._settle_funding(inst, pos, snap)
        if self._working:
            self._match_working()

    async def submit(self, order: Order) -> None:
        if self._p.latency_secs:
            await self._clock.sleep(self._p.latency_secs)
        self._submit(order)
        self._persist(durable=True)

    def _submit(self, order: Order) -> None:
        self.received.append(order)
        self.submissions += 1
        self._unjournaled.append(("submission", encode(order)))  # the venue's record of every order it received
        if order.client_order_id in self._seen_ids:
            self.duplicate_submissions += 1
        reason = self._validate(order)
        if reason:
            self._update(order.client_order_id, OrderStatus.REJECTED, ZERO, reason)
            return
        self._seen_ids.add(order.client_order_id)
        if self._journal is not None:
            self._unjournaled.append(("seen", {"client_order_id": order.client_order_id}))
        w = Working(order, order.qty)
        book = self._books[order.instrument_id]
        if order.order_type is OrderType.MARKET:
            if not self._affordable(
                self._inst[order.instrument_id], order, order.qty, to_decimal(book.touch(order.side)), Liquidity.TAKER
            ):
                self._update(order.client_order_id, OrderStatus.REJECTED, ZERO, "insufficient_funds")
                return
            self._update(order.client_order_id, OrderStatus.ACCEPTED, ZERO)
            self._take(w, book, first=True)
            return
        limit = order.limit_price
        assert limit is not None
        marketable = limit >= to_decimal(book.ask) if order.side is Side.BUY else limit <= to_decimal(book.bid)
        if marketable and order.post_only:
            self._update(order.client_order_id, OrderStatus.REJECTED, ZERO, "post_only_would_take")
            return
        self._update(order.client_order_id, OrderStatus.ACCEPTED, ZERO)
        if marketable:
            self._take(w, book, first=True)
        else:
            self._working[order.client_order_id] = w

    async def cancel(self, client_order_id: str) -> None:
        w = self._working.pop(client_order_id, None)
        if w is not None:
            self._update(client_order_id, OrderStatus.CANCELED, w.filled)
            self._persist(durable=True)

    def drain_events(self) -> list[VenueEvent]:
        events, self._events = self._events, []
        return events

    async def fetch_positions(self) -> dict[str, Position]:
        out = {k: Position(k, q, ZERO) for k, q in self.holdings.items() if q}
        out.update({k: Position(k, p.qty, p.entry) for k, p in self.perps.items()})
        return out

    async def fetch_balance(self) -> Balance:
        return Balance(self.cash + self.deriv_cash, self.equity())

    async def refresh_account(self, now_ns: int) -> None:
        """The paper account is always current."""

    def account_state(self) -> AccountState:
        """The account now (computed once per change of the account or of the marks: it is read many times a
        tick, by the governor, the margin manager, the allocator and the metrics)."""
        if self._state_cache is None:
            spot_free = float(self.cash - self._borrow_held()) if self.split else 0.0
            self._state_cache = AccountState(self.margin_account(), spot_free, float(self.equity()))
        return self._state_cache

    async def transfer(self, t: Transfer) -> None:
        """Move USDT between this account's wallets, or into an isolated position's margin (no equity moves)."""
        if self._p.latency_secs:
            await self._clock.sleep(self._p.latency_secs)
        reason = self._check_transfer(t)
        if not reason:
            amount = t.amount
            if t.from_wallet == Wallet.SPOT:
                self.cash -= amount
            else:
                self._credit_margin(-amount)
            if t.to_wallet == "isolated":
                self.perps[t.instrument_id or ""].margin += amount
            elif t.to_wallet == Wallet.SPOT:
                self.cash += amount
            else:
                self._credit_margin(amount)
        self._seen_transfers.add(t.transfer_id)
        if self._journal is not None:
            self._unjournaled.append(("seen_transfer", {"transfer_id": t.transfer_id}))
        status = TransferStatus.REJECTED if reason else TransferStatus.DONE
        self._emit(TransferUpdate.of(t, status, self._clock.now_ns(), reason))
        self._persist(durable=True)

    def _check_transfer(self, t: Transfer) -> str:
        if t.transfer_id in self._seen_transfers:
            return "duplicate_transfer_id"
        quote = next((i.quote for i in self._inst.values()), "USDT")
        if t.asset != quote:
            return "unsupported_asset"
        mode = self._p.account_mode
        wallets = {spot_wallet(mode).value, margin_wallet(mode).value}
        if t.from_wallet not in wallets or (t.to_wallet not in wallets and t.to_wallet != "isolated"):
            return "unknown_wallet"
        if t.to_wallet == "isolated":
            pos = self.perps.get(t.instrument_id or "")
            if pos is None or pos.mode is not MarginMode.ISOLATED or t.from_wallet != margin_wallet(mode):
                return "no_isolated_position"
        if t.amount <= 0:
            return "invalid_amount"
        if t.from_wallet == Wallet.SPOT and t.amount > self._spot_free():
            return "insufficient_funds"
        if t.from_wallet != Wallet.SPOT and float(t.amount) > self.account_state().margin.transferable():
            return "insufficient_funds"
        return ""

    # --- account ------------------------------------------------------------------------------------------------
    def equity(self) -> Decimal:
        """Every wallet's USDT + posted isolated margin + spot holdings at mark + perp unrealized PnL at mark."""
        eq = self.cash + self.deriv_cash
        for iid, qty in self.holdings.items():
            if qty:
                eq += qty * to_decimal(self._books[iid].mark)
        for iid, pos in self.perps.items():
            eq += pos.margin + pos.qty * (to_decimal(self._books[iid].mark) - pos.entry)
        return eq

    def open_order_ids(self) -> list[str]:
        return list(self._working)

    def _borrow_held(self) -> Decimal:
        """Cash the venue holds against borrowed spot."""
        if not self._borrow_since:
            return ZERO
        held_against = sum((-q * to_decimal(self._books[i].mark) for i, q in self.holdings.items() if q < 0), ZERO)
        return held_against * self._p.borrow_margin_pct

    def _spot_free(self) -> Decimal:
        """USDT the spot side may spend (a unified account also keeps its margin whole: see ``_affordable``)."""
        free = self.cash - self._borrow_held()
        if not self.split:
            free = min(free, to_decimal(max(0.0, self._margin_free())))
        return free

    def _margin_free(self) -> float:
        """Margin balance less initial margin (and, unified, less what borrowed spot holds)."""
        free = self.margin_account().free_margin()
        if not self.split:
            free -= float(self._borrow_held())
        return free

    # --- internals ----------------------------------------------------------------------------------------------
    def _update(self, cid: str, status: OrderStatus, filled: Decimal, reason: str = "") -> None:
        self._emit(OrderUpdate(self.venue, cid, status, filled, self._clock.now_ns(), reason))

    def _validate(self, order: Order) -> str:
        inst = self._inst.get(order.instrument_id)
        if inst is None or order.instrument_id not in self._books:
            return "no_market"
        if inst.ts_expiry_ns is not None and self._clock.now_ns() >= inst.ts_expiry_ns:
            return "expired"
        if order.client_order_id in self._seen_ids:
            return "duplicate_client_order_id"
        if order.qty < inst.min_qty or inst.round_qty(order.qty) != order.qty:
            return "invalid_qty"
        if order.order_type is OrderType.LIMIT and (order.limit_price is None or order.limit_price <= 0):
            return "invalid_price"
        if order.reduce_only:
            held = self._position_qty(inst)
            if held == 0 or (held > 0) == (order.side is Side.BUY) or order.qty > abs(held):
                return "reduce_only_would_increase"
        return ""

    def _position_qty(self, inst: Instrument) -> Decimal:
        if inst.kind is InstrumentKind.SPOT:
            return self.holdings.get(inst.id, ZERO)
        pos = self.perps.get(inst.id)
        return pos.qty if pos else ZERO

    def _slipped(self, side: Side, touch: float, notional: float) -> Decimal:
        bps = self._p.slippage_bps + self._p.impact_bps_per_million_usd * notional / 1e6
        return to_decimal(touch) * (1 + side.sign * Decimal(repr(bps)) / 10_000)

    def _take(self, w: Working, book: MarketSnapshot, first: bool) -> None:
        order = w.order
        inst = self._inst[order.instrument_id]
        qty = w.remaining
        if self._p.partial_fill_fraction < 1.0:
            part = inst.round_qty(order.qty * Decimal(repr(self._p.partial_fill_fraction)))
            qty = min(qty, max(part, inst.min_qty))
        touch = book.touch(order.side)
        if order.hedge_of is not None and order.order_type is OrderType.MARKET:
            scale = self._moments.scale_for(order.hedge_of, book.ts_ns)
            if scale is not None:
                touch *= scale  # the hedge of a fill inside the bar trades at the same moment (paper_moments)
        price = self._slipped(order.side, touch, float(qty) * book.mid)
        if order.order_type is OrderType.LIMIT and order.limit_price is not None:
            price = min(price, order.limit_price) if order.side is Side.BUY else max(price, order.limit_price)
        if not self._affordable(inst, order, qty, price, Liquidity.TAKER):
            self._working.pop(order.client_order_id, None)
            status = OrderStatus.REJECTED if first and w.filled == 0 else OrderStatus.CANCELED
            self._update(order.client_order_id, status, w.filled, "insufficient_funds")
            return
        self._execute(inst, w, qty, price, Liquidity.TAKER)
        if w.remaining > 0:
            self._working[order.client_order_id] = w

    def _match_working(self) -> None:
        for cid, w in list(self._working.items()):
            book = self._books[w.order.instrument_id]
            if w.order.order_type is OrderType.MARKET:
                self._working.pop(cid)
                self._take(w, book, first=False)
                continue
            limit = w.order.limit_price
            assert limit is not None
            lo, hi = book.range_low, book.range_high
            if lo is None or hi is None:
                continue
            traded = to_decimal(lo) < limit if w.order.side is Side.BUY else to_decimal(hi) > limit
            if not traded:
                continue
            inst = self._inst[w.order.instrument_id]
            if not self._affordable(inst, w.order, w.remaining, limit, Liquidity.MAKER):
                self._working.pop(cid)
                self._update(cid, OrderStatus.CANCELED, w.filled, "insufficient_funds")
                continue
            self._working.pop(cid)
            fill = self._execute(inst, w, w.remaining, limit, Liquidity.MAKER, intrabar=True)
            self._moments.record(fill.key, book.ts_ns, float(limit) / book.mid)

    def _affordable(self, inst: Instrument, order: Order, qty: Decimal, price: Decimal, liq: Liquidity) -> bool:
        fee = qty * price * inst.fees.rate(liq)
        if inst.kind is InstrumentKind.SPOT:
            held = self.holdings.get(inst.id, ZERO)
            free = self.cash - self._borrow_held()
            if order.side is Side.BUY:
                cover = min(qty, max(ZERO, -held))  # buying back borrowed coins releases their margin
                if free + cover * price * self._p.borrow_margin_pct < qty * price + fee:
                    return False
                if self.split:
                    return True
                # unified: the coins bought replace their cost as collateral, less the haircut
                lost = float(qty * price * (1 - self._p.collateral_haircut) + fee)
                return self._margin_free() >= lost or cover == qty
            short = max(ZERO, qty - max(held, ZERO))
            if short == 0:
                return True
            if self._p.borrow is None:
                return False  # no borrow source: short spot is refused
            return free >= short * price * self._p.borrow_margin_pct + fee
        pos = self.perps.get(inst.id)
        held = pos.qty if pos else ZERO
        increase = max(ZERO, abs(held + order.side.sign * qty) - abs(held))
        if increase == 0:
            return True
        lev = order.leverage or (pos.leverage if pos else self._p.default_leverage)
        return self._margin_free() >= float(increase * price / lev + fee)

    def _execute(
        self, inst: Instrument, w: Working, qty: Decimal, price: Decimal, liq: Liquidity, intrabar: bool = False
    ) -> Fill:
        order = w.order
        fee = qty * price * inst.fees.rate(liq)
        self._apply_trade(inst, order.side, qty, price, fee, order.leverage)
        w.remaining -= qty
        w.filled += qty
        self._trade_seq += 1
        now = self._clock.now_ns()
        fill = Fill(
            self.venue,
            self._trade_id(),
            order.client_order_id,
            inst.id,
            order.side,
            qty,
            price,
            fee,
            liq,
            now,
            intrabar=intrabar,
        )
        self._emit(fill)
        status = OrderStatus.FILLED if w.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        self._update(order.client_order_id, status, w.filled)
        return fill

    def _apply_trade(
        self, inst: Instrument, side: Side, qty: Decimal, price: Decimal, fee: Decimal, leverage: int | None
    ) -> None:
        signed = qty if side is Side.BUY else -qty
        if inst.kind is InstrumentKind.SPOT:
            self.cash -= fee
            if inst.id in self._borrow_since:
                self._charge_borrow(inst, self._books[inst.id])  # settle interest on the size held until now
            self.cash -= signed * price
            held = self.holdings.get(inst.id, ZERO) + signed
            self.holdings[inst.id] = held
            if held < 0:
                self._borrow_since.setdefault(inst.id, self._clock.now_ns())
            else:
                self._borrow_since.pop(inst.id, None)
            return
        self._credit_margin(-fee)
        pos = self.perps.get(inst.id)
        if pos is None:
            pos = self.perps[inst.id] = PerpPos(
                ZERO, price, leverage or self._p.default_leverage, self._mode_for(inst.id)
            )
        elif leverage:
            pos.leverage = leverage
        if pos.qty == 0 or pos.qty * signed > 0:  # open or increase: weighted entry, isolated margin posted
            total = pos.qty + signed
            pos.entry = (pos.entry * pos.qty + price * signed) / total
            pos.qty = total
            self._post_isolated(pos, qty * price)
            return
        closed = min(abs(signed), abs(pos.qty))
        self._credit_margin(closed * (price - pos.entry) * (1 if pos.qty > 0 else -1))
        if pos.margin:
            released = pos.margin * closed / abs(pos.qty)
            pos.margin -= released
            self._credit_margin(released)
        rest = pos.qty + signed
        if rest == 0:
            if pos.margin:
                self._credit_margin(pos.margin)
            del self.perps[inst.id]
        elif (rest > 0) == (pos.qty > 0):
            pos.qty = rest
        else:  # flipped through zero: the remainder opens at this price
            pos.qty, pos.entry = rest, price
            self._post_isolated(pos, abs(rest) * price)

    def _post_isolated(self, pos: PerpPos, notional: Decimal) -> None:
        """An isolated position takes its initial margin out of the margin wallet."""
        if pos.mode is MarginMode.ISOLATED:
            margin = notional / pos.leverage
            pos.margin += margin
            self._credit_margin(-margin)

    def liquidation_price(self, instrument_id: str) -> Decimal | None:
        """Where the venue liquidates this position now (``None``: no move of its base alone reaches it): the
        account model's price (``bot.accounts``), worked out once per change of the account or the marks."""
        if instrument_id not in self.perps:
            return None
        price = self.account_state().liquidation_prices.get(instrument_id)
        if price is None or price <= 0:
            return None
        return to_decimal(price).quantize(self._inst[instrument_id].price_tick)

    def _maybe_liquidate(self, inst: Instrument, pos: PerpPos, snap: MarketSnapshot) -> bool:
        # first in floats: a liquidation price more than a tick from both the mark and the bar's extreme on its side
        # cannot be reached whatever its rounding to the tick (the exact check below decides every other case)
        px = self.account_state().liquidation_prices.get(inst.id)
        if px is None or px <= 0:
            return False
        tick, low, high = float(inst.price_tick), snap.range_low, snap.range_high
        if low is not None and high is not None:
            if px < snap.mark - tick and low > px + tick:
                return False
            if px > snap.mark + tick and high < px - tick:
                return False
        liq = self.liquidation_price(inst.id)
        if liq is None:
            return False
        factor = liq / to_decimal(snap.mark)
        below = factor < 1  # a long (or a cross account long this base) is liquidated on the way down
        extreme = snap.range_low if below else snap.range_high
        hit = to_decimal(extreme) <= liq if below else to_decimal(extreme) >= liq  # type: ignore[arg-type]  # checked by caller
        if not hit:
            return False
        side = Side.SELL if pos.qty > 0 else Side.BUY
        qty = abs(pos.qty)
        fee = qty * liq * inst.fees.taker
        self._apply_trade(inst, side, qty, liq, fee, None)
        for cid, w in list(self._working.items()):  # the venue cancels what was working on it
            if w.order.instrument_id == inst.id:
                del self._working[cid]
                self._update(cid, OrderStatus.CANCELED, w.filled, "liquidated")
        self._trade_seq += 1
        self._emit(
            Fill(
                self.venue,
                self._trade_id(),
                f"liq-{self.account_id}-{self._trade_seq}",
                inst.id,
                side,
                qty,
                liq,
                fee,
                Liquidity.TAKER,
                snap.ts_ns,
                is_liquidation=True,
            )
        )
        return True

    def _charge_borrow(self, inst: Instrument, snap: MarketSnapshot) -> None:
        """Interest on the spot currently borrowed, for the time since the last charge, at the curve's rate for
        the size borrowed; accrual restarts now."""
        curve = self._p.borrow
        since = self._borrow_since.get(inst.id)
        now = max(snap.ts_ns, self._clock.now_ns())
        held = self.holdings.get(inst.id, ZERO)
        if curve is None or since is None or held >= 0 or now <= since:
            return
        self._borrow_since[inst.id] = now
        qty = -held
        mark = to_decimal(snap.mark)
        apr = curve.rate_for(float(qty * mark))
        amount = qty * mark * Decimal(repr(apr)) * (now - since) / (SECS_PER_YEAR * NS_PER_SEC)
        self.cash -= amount
        self._emit(BorrowCharge(self.venue, inst.id, now, qty, apr, amount))

    def _settle_expiry(self, inst: Instrument, pos: PerpPos, snap: MarketSnapshot) -> None:
        """A dated future is cash-settled at expiry against the index (delivery price), without a fee."""
        price = to_decimal(snap.index if snap.index is not None else snap.mark)
        side = Side.SELL if pos.qty > 0 else Side.BUY
        qty = abs(pos.qty)
        self._apply_trade(inst, side, qty, price, ZERO, None)
        for cid, w in list(self._working.items()):
            if w.order.instrument_id == inst.id:
                del self._working[cid]
                self._update(cid, OrderStatus.CANCELED, w.filled, "expired")
        self._trade_seq += 1
        self._emit(
            Fill(
                self.venue,
                self._trade_id(),
                f"expiry-{self.account_id}-{self._trade_seq}",
                inst.id,
                side,
                qty,
                price,
                ZERO,
                Liquidity.TAKER,
                snap.ts_ns,
                is_settlement=True,
            )
        )

    def _settle_funding(self, inst: Instrument, pos: PerpPos, snap: MarketSnapshot) -> None:
        st = snap.settlement
        assert st is not None
        rate = to_decimal(st.rate)
        mark = to_decimal(snap.mark)
        amount = -pos.qty * mark * rate
        self._credit_margin(amount)
        self._emit(FundingPayment(self.venue, inst.id, st.ts_ns, rate, pos.qty, mark, amount))
