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


# where venues put the client order id in a raw trade when ccxt's unified trade leaves it out
CLIENT_ID_FIELDS = ("orderLinkId", "clOrdId", "clientOrderId", "c")


class FillTracker:
    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.by_venue_cid: dict[str, Order] = {}  # the client id the venue knows -> the bot's order
        self.by_venue_id: dict[str, Order] = {}  # the venue's order id -> the bot's order
        self.filled: dict[str, Decimal] = {}  # bot client id -> filled so far (base units)
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.since_ms: int | None = None

    def placed(self, venue_cid: str, order: Order) -> None:
        self.by_venue_cid[venue_cid] = order

    def accepted(self, order: Order, venue_id: str | None) -> None:
        if venue_id:
            self.by_venue_id[str(venue_id)] = order

    def open_orders(self) -> list[Order]:
        return [o for o in self.by_venue_cid.values() if self.filled.get(o.client_order_id, ZERO) < o.qty]

    def ingest(
        self, trades: Iterable[Mapping[str, Any]], instruments: Mapping[str, Instrument], now_ns: int
    ) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        for t in trades:
            tid = str(t.get("id") or "")
            if not tid or tid in self.seen:
                continue
            info = t.get("info") or {}
            cid = t.get("clientOrderId") or next((info[k] for k in CLIENT_ID_FIELDS if info.get(k)), "")
            order = self.by_venue_cid.get(str(cid)) or self.by_venue_id.get(str(t.get("order") or ""))
            if order is None:
                self.counts["foreign"] += 1  # not the bot's (another app on the account, or before this run)
                continue
            self.seen.add(tid)
            inst = instruments[order.instrument_id]
            qty = Decimal(str(t["amount"])) * (inst.contract_size if inst.is_derivative else 1)
            fee = (t.get("fee") or {}).get("cost")
            ts = int(t.get("timestamp") or now_ns // 1_000_000)
            out.append(
                Fill(
                    self.venue,
                    tid,
                    order.client_order_id,
                    order.instrument_id,
                    Side(t["side"]),
                    qty,
                    Decimal(str(t["price"])),
                    Decimal(str(fee or 0)),
                    Liquidity.MAKER if t.get("takerOrMaker") == "maker" else Liquidity.TAKER,
                    ts * 1_000_000,
                )
            )
            done = self.filled[order.client_order_id] = self.filled.get(order.client_order_id, ZERO) + qty
            status = OrderStatus.FILLED if done >= order.qty else OrderStatus.PARTIALLY_FILLED
            out.append(OrderUpdate(self.venue, order.client_order_id, status, done, now_ns))
            self.counts["fills"] += 1
            self.since_ms = max(self.since_ms or 0, ts)
        return out


class TradeSource(Protocol):
    """What following fills needs of a venue client (``CcxtGateway`` is one)."""

    venue: str
    ex: Any
    instruments: dict[str, Instrument]
    symbols: dict[str, str]
    fills: FillTracker

    async def call(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any: ...

    def push_events(self, events: list[VenueEvent]) -> None: ...


async def poll_fills(gw: TradeSource) -> int:
    """One REST pass over the instruments with open orders; the new fills go to the gateway's events."""
    from bot.clock import wall_ns

    tracker = gw.fills
    symbols = sorted({gw.symbols[o.instrument_id] for o in tracker.open_orders()})
    n = 0
    for sym in symbols:
        since = tracker.since_ms
        trades = await gw.call("fetch_my_trades", partial(gw.ex.fetch_my_trades, sym, since))
        events = tracker.ingest(trades, gw.instruments, wall_ns())
        gw.push_events(events)
        n += len(events)
    return n


async def run_fill_loop(gw: TradeSource, poll_secs: float = 2.0, max_backoff_secs: float = 30.0) -> None:
    """Stream trades where the venue can (``watch_my_trades``); on any stream failure, poll over REST and retry the
    stream later. Runs until cancelled."""
    from bot.clock import wall_ns
    from bot.errors import VenueError
    from bot.venues.errors import classify

    streaming = bool(gw.ex.has.get("watchMyTrades")) and hasattr(gw.ex, "watch_my_trades")
    backoff = poll_secs
    while True:
        if streaming:
            try:
                trades = await gw.ex.watch_my_trades()
                gw.push_events(gw.fills.ingest(trades, gw.instruments, wall_ns()))
                backoff = poll_secs
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - stream down: REST until it is back
                _, code = classify(exc)
                gw.fills.counts["stream_failures"] += 1
                log.warning("venue.fill_stream_failed", venue=gw.venue, code=code)
        try:
            await poll_fills(gw)
        except VenueError as exc:
            log.warning("venue.fill_poll_failed", venue=gw.venue, code=exc.code)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_secs) if streaming else poll_secs
