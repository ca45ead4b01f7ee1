"""A venue's own records of this account, read whole: trades and funding payments since a time, paginated under each
venue's documented limits (a window of at most so many days per request, so many rows per page), each row once.

Binance: ``myTrades`` 24 h per request, ``userTrades`` 7 days, ``income`` 100 rows by default (1,000 at most) and
only the last 7 days when no start is sent. Bybit v5: 7 days and 100 rows per request. OKX bills and fills: 100 rows.
A page as long as the limit is followed by the next page from its last row's time (rows at that same millisecond are
read again and dropped by id); a shorter page ends its window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from bot.clock import wall_ns
from bot.domain import ZERO, Fill, FundingPayment, InstrumentKind, Order
from bot.logs import get_logger
from bot.venues.ccxt_fills import TradeSource

log = get_logger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Paging:
    """One kind of history at one venue: the widest window one request may span, and the rows per page."""

    window_ms: int
    limit: int
    newest_first: bool = False  # a full page holds a window's newest rows (Bybit, OKX): the next page is older


# (venue, what) -> paging; "trades_spot", "trades_swap", "orders_spot", "orders_swap", "funding"
PAGING: dict[tuple[str, str], Paging] = {
    ("binance", "trades_spot"): Paging(DAY_MS, 1000),
    ("binance", "trades_swap"): Paging(7 * DAY_MS, 1000),
    ("binance", "funding"): Paging(7 * DAY_MS, 1000),
    ("binance", "orders_spot"): Paging(DAY_MS, 1000),
    ("binance", "orders_swap"): Paging(7 * DAY_MS, 1000),
    ("bybit", "trades_spot"): Paging(7 * DAY_MS, 100, newest_first=True),
    ("bybit", "trades_swap"): Paging(7 * DAY_MS, 100, newest_first=True),
    ("bybit", "funding"): Paging(7 * DAY_MS, 100, newest_first=True),
    ("bybit", "orders_spot"): Paging(7 * DAY_MS, 50, newest_first=True),
    ("bybit", "orders_swap"): Paging(7 * DAY_MS, 50, newest_first=True),
    ("okx", "trades_spot"): Paging(7 * DAY_MS, 100, newest_first=True),
    ("okx", "trades_swap"): Paging(7 * DAY_MS, 100, newest_first=True),
    ("okx", "funding"): Paging(7 * DAY_MS, 100, newest_first=True),
}
DEFAULT_PAGING = Paging(DAY_MS, 100)

Fetch = Callable[[int, int, int], Awaitable[list[Mapping[str, Any]]]]  # (start ms, end ms, limit) -> rows


async def read_all(
    fetch: Fetch, since_ms: int, now_ms: int, paging: Paging, key: Callable[[Mapping[str, Any]], Hashable]
) -> list[Mapping[str, Any]]:
    """Every row from ``since_ms`` to ``now_ms``, oldest first, each once (by ``key``). A full page is followed by
    the rest of its window: after its newest row where the venue answers oldest first, before its oldest row where
    it answers newest first (rows at that same millisecond are read again and dropped by key)."""
    out: list[Mapping[str, Any]] = []
    seen: set[Hashable] = set()
    window_start = since_ms
    while window_start <= now_ms:
        window_end = min(window_start + paging.window_ms - 1, now_ms)
        start, end = window_start, window_end
        while True:
            rows = await fetch(start, end, paging.limit)
            new = [r for r in rows if key(r) not in seen]
            for r in new:
                seen.add(key(r))
                out.append(r)
            if len(rows) < paging.limit or not new:
                break
            stamps = [int(r.get("timestamp") or start) for r in rows]  # a full page: more may follow in the window
            if paging.newest_first:
                end = min(stamps)
            else:
                start = max(stamps)
        window_start = window_end + 1
    out.sort(key=lambda r: int(r.get("timestamp") or 0))
    return out


def paging(venue: str, what: str) -> Paging:
    return PAGING.get((venue, what), DEFAULT_PAGING)


class HistorySource(TradeSource, Protocol):
    """What reading a venue's records needs of a venue client, beyond following its fills (``CcxtGateway`` is one)."""

    history_since_ms: int
    funding_seen: set[tuple[str, int]]
    counts: Counter[str]

    def history_instruments(self) -> set[str]: ...

    def tracked_orders(self) -> list[Order]: ...

    def tracked_order(self, venue_cid: str) -> Order | None: ...


async def read_fills(gw: HistorySource, since_ns: int = 0) -> list[Fill]:
    """This run's fills the gateway has not seen yet (``known_fills``), read from the venue's trade records since
    ``since_ns`` (or the run's start), per symbol, paginated under the venue's limits; base units, fees in quote."""
    since_ms = max(since_ns // 1_000_000, 0) or gw.history_since_ms
    out: list[Fill] = []
    now_ms = wall_ns() // 1_000_000
    for iid in sorted(gw.history_instruments()):
        await learn_venue_ids(gw, iid, since_ms, now_ms)
        trades = await read_trades(gw, iid, since_ms, now_ms)
        out.extend(e for e in gw.fills.ingest(trades, gw.instruments, wall_ns()) if isinstance(e, Fill))
    return out


async def read_trades(gw: TradeSource, iid: str, since_ms: int, now_ms: int) -> list[Mapping[str, Any]]:
    """The account's trades on one instrument from ``since_ms`` to ``now_ms``, page by page under the venue's window
    and row limits (a request with a start and no end is answered with the window after the start, not up to now)."""
    symbol = gw.symbols[iid]
    kind = "trades_spot" if gw.instruments[iid].kind is InstrumentKind.SPOT else "trades_swap"

    async def page(start: int, end: int, limit: int) -> list[Mapping[str, Any]]:
        return list(
            await gw.call("fetch_my_trades", partial(gw.ex.fetch_my_trades, symbol, start, limit, {"until": end}))
        )

    return await read_all(page, since_ms, now_ms, paging(gw.venue, kind), _trade_key)


async def learn_venue_ids(gw: HistorySource, iid: str, since_ms: int, now_ms: int) -> None:
    """The venue's order ids of this run's orders on ``iid`` the gateway has not seen accepted (placed by an
    earlier process): Binance's trade records carry only the venue's order id, so its order records since the run
    began map them to client ids."""
    known = {o.client_order_id for o in gw.fills.by_venue_id.values()}
    missing = [o for o in gw.tracked_orders() if o.instrument_id == iid and o.client_order_id not in known]
    if not missing or not gw.ex.has.get("fetchOrders"):
        return
    symbol = gw.symbols[iid]
    kind = "orders_spot" if gw.instruments[iid].kind is InstrumentKind.SPOT else "orders_swap"

    async def page(start: int, end: int, limit: int) -> list[Mapping[str, Any]]:
        return list(await gw.call("fetch_orders", partial(gw.ex.fetch_orders, symbol, start, limit, {"until": end})))

    for r in await read_all(page, since_ms, now_ms, paging(gw.venue, kind), _trade_key):
        order = gw.tracked_order(str(r.get("clientOrderId") or ""))
        if order is not None:
            gw.fills.accepted(order, r.get("id"))


async def read_funding(gw: HistorySource, since_ns: int = 0) -> list[FundingPayment]:
    """Funding the venue paid or charged on this run's perpetuals since ``since_ns`` (or the run's start), not
    booked yet, paginated: each as the venue booked it, with the settled rate and mark, and the position this
    run's fills had built then. A payment that differs from position × rate × mark is counted and logged."""
    if not gw.ex.has.get("fetchFundingHistory"):
        return []
    since_ms = max(since_ns // 1_000_000, 0) or gw.history_since_ms
    now_ms = wall_ns() // 1_000_000
    out: list[FundingPayment] = []
    for iid in sorted(gw.history_instruments()):
        inst = gw.instruments[iid]
        if inst.kind is not InstrumentKind.PERP:
            continue
        symbol = gw.symbols[iid]

        async def page(start: int, end: int, limit: int, symbol: str = symbol) -> list[Mapping[str, Any]]:
            return list(
                await gw.call(
                    "fetch_funding_history",
                    partial(gw.ex.fetch_funding_history, symbol, start, limit, {"until": end}),
                )
            )

        rows = await read_all(page, since_ms, now_ms, paging(gw.venue, "funding"), _row_key)
        rows = [r for r in rows if (iid, int(r["timestamp"]) * 1_000_000) not in gw.funding_seen]
        if not rows:
            continue
        stated = all(settlement_stated(gw.venue, r)[1] is not None for r in rows)
        rates = {} if stated else await settled_rates(gw, iid, int(rows[0]["timestamp"]) - 8 * 3600_000)
        for r in rows:
            pay = payment(gw, iid, r, rates)
            gw.funding_seen.add((iid, pay.ts_ns))
            out.append(pay)
    return out


async def settled_rates(gw: HistorySource, instrument_id: str, since_ms: int) -> dict[int, tuple[Decimal, Decimal]]:
    """Settlement ms -> (rate, mark) from the venue's funding-rate history (mark where the venue states it)."""
    rows = await gw.call(
        "fetch_funding_rate_history",
        partial(gw.ex.fetch_funding_rate_history, gw.symbols[instrument_id], since_ms, 1000),
    )
    out = {}
    for r in rows:
        mark = (r.get("info") or {}).get("markPrice")
        out[int(r["timestamp"])] = (Decimal(str(r["fundingRate"])), Decimal(str(mark or 0)))
    return out


def settlement_stated(venue: str, r: Mapping[str, Any]) -> tuple[Decimal, tuple[Decimal, Decimal] | None]:
    """A funding record as the account received it (positive: received), with the settlement's rate and mark where
    the record states them. Bybit's record is an execution of type Funding whose ``execFee`` is what the position
    *paid* (negative when it received) — ccxt passes that fee on as the amount — with the settled rate in
    ``feeRate`` and the mark in ``execPrice``. Binance's and OKX's amounts are already what the account received."""
    info = r.get("info") or {}
    if venue == "bybit" and info.get("execType") == "Funding":
        return -Decimal(str(info["execFee"])), (Decimal(str(info["feeRate"])), Decimal(str(info["execPrice"])))
    return Decimal(str(r["amount"])), None


def payment(
    gw: HistorySource, iid: str, r: Mapping[str, Any], rates: Mapping[int, tuple[Decimal, Decimal]]
) -> FundingPayment:
    ts_ms = int(r["timestamp"])
    amount, own = settlement_stated(gw.venue, r)
    # the settlement this payment belongs to: its own rate and mark where the record states them, else the settled
    # rate stamped nearest to it (venues book a few ms late)
    at = ts_ms if own is not None else min(rates, key=lambda t: abs(t - ts_ms), default=None)
    rate, mark = own if own is not None else rates[at] if at is not None else (ZERO, ZERO)
    qty = gw.fills.position_at(iid, at if at is not None else ts_ms)
    expected = -qty * mark * rate
    if mark and abs(expected - amount) > max(Decimal("0.01"), abs(expected) * Decimal("0.001")):
        gw.counts["funding_mismatch"] += 1
        log.error(
            "venue.funding_mismatch",
            venue=gw.venue,
            instrument=iid,
            paid=str(amount),
            expected=str(expected),
            position=str(qty),
            rate=str(rate),
            mark=str(mark),
        )
    return FundingPayment(gw.venue, iid, ts_ms * 1_000_000, rate, qty, mark, amount)


def _trade_key(t: Mapping[str, Any]) -> tuple[str, str]:
    return (str(t.get("symbol")), str(t.get("id")))


def _row_key(r: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(r.get("symbol")), str(r.get("id")), int(r.get("timestamp") or 0))
