"""Fills of live orders, as they happen: ccxt trades → ``Fill`` events (and the order's ``OrderUpdate``), each trade
once, matched to the bot's order by client id or by the venue's order id; amounts in contracts become base units.

``run_fill_loop`` keeps them coming during a live run: ``watch_my_trades`` (ccxt.pro) where the venue streams them,
else — and whenever the stream fails — ``fetch_my_trades`` polled for the instruments with open orders. Recovery after
a restart reads the same trades through ``CcxtGateway.fetch_fills``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from bot.domain import ZERO, Fill, Instrument, Liquidity, Order, OrderStatus, OrderUpdate, Side, VenueEvent
from bot.logs import get_logger

log = get_logger(__name__)


OVERLAP_MS = 60_000  # each poll reads the last minute of a symbol's trades again, and a minute past our clock

# where venues put the client order id in a raw trade when ccxt's unified trade leaves it out
CLIENT_ID_FIELDS = ("orderLinkId", "clOrdId", "clientOrderId", "c")


class FillTracker:
    """Each trade once — by (symbol, trade id): venues number trades per symbol — matched to the bot's order by the
    client id the venue knows or by the venue's order id. Amounts in contracts become base units; a fee charged in the
    base asset (a Binance spot buy) is valued at the fill price in the quote, as the ledger books fees. The net position
    the fills build, per instrument over time, is kept for checking funding payments against it."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.by_venue_cid: dict[str, Order] = {}  # the client id the venue knows -> the bot's order
        self.by_venue_id: dict[str, Order] = {}  # the venue's order id -> the bot's order
        self.filled: dict[str, Decimal] = {}  # bot client id -> filled so far (base units)
        self.seen: set[tuple[str, str]] = set()  # (symbol, trade id)
        self.counts: Counter[str] = Counter()
        self.latest_ms: dict[str, int] = {}  # symbol -> the newest of the bot's trades seen on it (venue time)
        self.moves: dict[str, list[tuple[int, Decimal]]] = {}  # instrument -> (ms, signed base qty) in time order

    def placed(self, venue_cid: str, order: Order) -> None:
        self.by_venue_cid[venue_cid] = order

    def accepted(self, order: Order, venue_id: str | None) -> None:
        if venue_id:
            self.by_venue_id[str(venue_id)] = order

    def since_ms(self, symbol: str, start_ms: int) -> int:
        """Where the next read of ``symbol``'s trades starts: its own newest trade (or the run's start, ``start_ms``),
        less ``OVERLAP_MS`` — a trade the venue stamps earlier may show up later, and the venue's clock may lag ours;
        what is read again is known by its id. Never another symbol's time: one watermark for all made a pass that read
        spot, then the perp, skip for good a spot trade made in between."""
        return max(0, self.latest_ms.get(symbol, start_ms) - OVERLAP_MS)

    def open_orders(self) -> list[Order]:
        return [o for o in self.by_venue_cid.values() if self.filled.get(o.client_order_id, ZERO) < o.qty]

    def know(self, fills: Iterable[Fill], symbols: Mapping[str, str]) -> None:
        """Fills booked already (the store's, after a restart): not new when the venue reports them again."""
        for f in fills:
            self.seen.add((symbols.get(f.instrument_id, ""), f.trade_id))
            self.filled[f.client_order_id] = self.filled.get(f.client_order_id, ZERO) + f.traded_qty
            self.moves.setdefault(f.instrument_id, []).append((f.ts_ns // 1_000_000, f.qty * f.side.sign))
            symbol = symbols.get(f.instrument_id, "")
            self.latest_ms[symbol] = max(self.latest_ms.get(symbol, 0), f.ts_ns // 1_000_000)
        for moves in self.moves.values():
            moves.sort(key=lambda m: m[0])

    def position_at(self, instrument_id: str, ts_ms: int) -> Decimal:
        """The net base quantity this account's fills of the bot's orders had built on ``instrument_id`` before
        ``ts_ms``."""
        return sum((q for t, q in self.moves.get(instrument_id, ()) if t < ts_ms), ZERO)

    def ingest(
        self, trades: Iterable[Mapping[str, Any]], instruments: Mapping[str, Instrument], now_ns: int
    ) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        for t in trades:
            tid = str(t.get("id") or "")
            key = (str(t.get("symbol") or ""), tid)
            if not tid or key in self.seen:
                continue
            info = t.get("info") or {}
            cid = t.get("clientOrderId") or next((info[k] for k in CLIENT_ID_FIELDS if info.get(k)), "")
            order = self.by_venue_cid.get(str(cid)) or self.by_venue_id.get(str(t.get("order") or ""))
            if order is None:
                self.counts["foreign"] += 1  # not the bot's (another app on the account, or before this run)
                continue
            self.seen.add(key)
            inst = instruments[order.instrument_id]
            traded = Decimal(str(t["amount"])) * (inst.contract_size if inst.is_derivative else 1)
            price = Decimal(str(t["price"]))
            ts = int(t.get("timestamp") or now_ns // 1_000_000)
            side = Side(t["side"])
            fee, fee_qty = self.fee_in_quote(t.get("fee") or {}, inst, price)
            qty = traded - fee_qty if side is Side.BUY else traded + fee_qty  # what the holding moved, as the venue
            out.append(
                Fill(
                    self.venue,
                    tid,
                    order.client_order_id,
                    order.instrument_id,
                    side,
                    qty,
                    price,
                    fee,
                    Liquidity.MAKER if t.get("takerOrMaker") == "maker" else Liquidity.TAKER,
                    ts * 1_000_000,
                    fee_qty=fee_qty,
                )
            )
            moves = self.moves.setdefault(order.instrument_id, [])
            moves.append((ts, qty * side.sign))
            moves.sort(key=lambda m: m[0])
            done = self.filled[order.client_order_id] = self.filled.get(order.client_order_id, ZERO) + traded
            status = OrderStatus.FILLED if done >= order.qty else OrderStatus.PARTIALLY_FILLED
            out.append(OrderUpdate(self.venue, order.client_order_id, status, done, now_ns))
            self.counts["fills"] += 1
            self.latest_ms[key[0]] = max(self.latest_ms.get(key[0], 0), ts)
        return out

    def fee_in_quote(self, fee: Mapping[str, Any], inst: Instrument, price: Decimal) -> tuple[Decimal, Decimal]:
        """(the fee in the quote currency, the base the venue kept as the fee). In the quote (or settle) currency: as
        charged. In the base asset (a spot buy's fee, taken from the coin bought): valued at the fill price, and the
        base kept is reported so the holding matches the venue's. Any other asset (BNB fee discounts) is counted and
        booked at 0: turn the discount off for exact books."""
        cost = Decimal(str(fee.get("cost") or 0))
        currency = fee.get("currency")
        if not cost or currency in (None, inst.quote, inst.settle or inst.quote):
            return cost, ZERO
        if currency == inst.base and not inst.is_derivative:
            return cost * price, cost
        self.counts["fee_other_asset"] += 1
        log.error("venue.fee_other_asset", venue=self.venue, asset=str(currency), instrument=inst.id)
        return ZERO, ZERO


class TradeSource(Protocol):
    """What following fills needs of a venue client (``CcxtGateway`` is one)."""

    venue: str
    ex: Any
    instruments: dict[str, Instrument]
    symbols: dict[str, str]
    fills: FillTracker
    history_since_ms: int  # the run's records start here

    async def call(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any: ...

    def push_events(self, events: list[VenueEvent]) -> None: ...

    def stream_params(self) -> list[dict[str, Any]]: ...

    async def poll_funding(self) -> int: ...

    async def read_trades(self, instrument_id: str, since_ms: int, now_ms: int) -> list[Mapping[str, Any]]: ...


async def poll_fills(gw: TradeSource) -> int:
    """One REST pass over the instruments with open orders, each read from its own newest trade (less an overlap) to
    now, paged under the venue's limits; the new fills go to the gateway's events."""
    from bot.clock import wall_ns

    tracker = gw.fills
    n = 0
    for iid in sorted({o.instrument_id for o in tracker.open_orders()}):
        now_ms = wall_ns() // 1_000_000
        since = tracker.since_ms(gw.symbols[iid], gw.history_since_ms)
        trades = await gw.read_trades(iid, min(since, now_ms), now_ms + OVERLAP_MS)  # the venue's clock may lead
        events = tracker.ingest(trades, gw.instruments, wall_ns())
        gw.push_events(events)
        n += len(events)
    return n


async def run_fill_loop(
    gw: TradeSource, poll_secs: float = 2.0, reconcile_secs: float = 10.0, funding_secs: float = 60.0
) -> None:
    """Fills and funding as they happen, until cancelled.

    - Where the venue streams trades (``watch_my_trades``), one stream per market type the venue separates (Binance:
      spot and USDⓈ-M are two user streams; with no type ccxt follows the spot one only); a failed stream is retried
      with backoff.
    - Fills are polled over REST all the same — every ``poll_secs`` without a stream, every ``reconcile_secs`` beside
      one — so a stream that is up but silent for a market never hides a fill. Each trade is booked once.
    - Funding payments are read from the venue's own records every ``funding_secs`` and booked as it paid them."""
    streaming = bool(gw.ex.has.get("watchMyTrades")) and hasattr(gw.ex, "watch_my_trades")
    async with asyncio.TaskGroup() as tg:
        if streaming:
            for params in gw.stream_params():
                tg.create_task(_stream(gw, params, poll_secs))
        tg.create_task(_every(reconcile_secs if streaming else poll_secs, partial(poll_fills, gw), gw.venue, "fills"))
        tg.create_task(_every(funding_secs, gw.poll_funding, gw.venue, "funding"))


async def _stream(gw: TradeSource, params: dict[str, Any], first_backoff: float, cap: float = 60.0) -> None:
    from bot.clock import wall_ns
    from bot.venues.errors import classify

    backoff = first_backoff
    while True:
        try:
            trades = await gw.ex.watch_my_trades(None, None, None, params)
            gw.push_events(gw.fills.ingest(trades, gw.instruments, wall_ns()))
            backoff = first_backoff
            continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - stream down: the REST poll covers it until it is back
            _, code = classify(exc)
            gw.fills.counts["stream_failures"] += 1
            log.warning("venue.fill_stream_failed", venue=gw.venue, code=code, market=params.get("type", ""))
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, cap)


async def _every(secs: float, job: Callable[[], Awaitable[int]], venue: str, what: str) -> None:
    from bot.errors import VenueError

    while True:
        try:
            await job()
        except VenueError as exc:
            log.warning("venue.poll_failed", venue=venue, what=what, code=exc.code)
        await asyncio.sleep(secs)
