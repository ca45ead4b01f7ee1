"""Placing an order at a live venue without ever placing it twice or losing track of it.

- ``reduceOnly`` goes only to derivatives: spot venues have no such flag (Binance ``/api/v3/order`` refuses it), and a
  spot leg is closed by an ordinary order of the quantity held.
- Leverage is set before the first order of a symbol (and at start-up, ``ccxt_setup``); a venue's "not modified"
  answer (Bybit 110043) is success. If setting it fails, an entry is refused; an order that reduces risk is sent anyway.
- After an answer that leaves the outcome unknown (timeout, 5xx, unreadable body), the order is looked up by client
  id for ``lookup_grace_secs`` — venues show a new order to queries only after a delay — and resent only when it
  still is not there. A rate-limit answer (429) took no effect: resent after backoff, without a lookup.
- When even the lookups fail, the order is reported working with reason ``unconfirmed`` and looked up again on each
  account refresh until the venue says what became of it. ``submit`` never raises.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from bot.clock import wall_ns
from bot.domain import ZERO, Instrument, Order, OrderStatus, OrderType, OrderUpdate, Purpose, Side, VenueEvent
from bot.errors import VenueError
from bot.logs import get_logger
from bot.retry import Backoff
from bot.venues.ccxt_fills import FillTracker
from bot.venues.ccxt_markets import venue_client_id
from bot.venues.errors import ErrorKind, classify

log = get_logger(__name__)


class OrderVenue(Protocol):
    """What placing orders needs of a venue client (``CcxtGateway`` is one)."""

    venue: str
    ex: Any
    instruments: dict[str, Instrument]
    symbols: dict[str, str]
    leverage: dict[str, int]
    fills: FillTracker
    errors: Counter[str]
    retries: Counter[str]
    counts: Counter[str]
    unconfirmed: dict[str, tuple[Order, float]]
    max_retries: int
    lookup_grace_secs: float
    sleep: Callable[[float], Awaitable[None]]

    def track(self, orders: Iterable[Order]) -> None: ...

    def new_backoff(self) -> Backoff: ...

    def push_events(self, events: list[VenueEvent]) -> None: ...

    async def lookup(self, cid: str, symbol: str) -> dict[str, Any] | None: ...


# a venue's answer to setting the leverage it already has (ccxt raises it as BadRequest)
LEVERAGE_NOT_MODIFIED = ("110043", "leverage not modified", "Leverage not modified")
NOT_THERE = ("order_not_found", "bad_request", "invalid_order")  # how venues say "no such order" to a lookup
_NO_EFFECT = ("rate_limited", "ddos_protection")  # refused before the venue acted on the request
UNREADABLE = object()  # a lookup that could not be answered: the order's fate is still unknown


def order_params(gw: OrderVenue, order: Order, cid: str) -> dict[str, Any]:
    inst = gw.instruments[order.instrument_id]
    params: dict[str, Any] = {"clientOrderId": cid}
    if order.post_only:
        params["postOnly"] = True
    if order.reduce_only and inst.is_derivative:
        params["reduceOnly"] = True
    return params


async def ensure_leverage(gw: OrderVenue, symbol: str, leverage: int) -> str | None:
    """Set ``leverage`` on ``symbol`` unless the gateway knows it is set; None when it is, else the error code."""
    if not gw.ex.has.get("setLeverage") or gw.leverage.get(symbol) == leverage:
        return None
    try:
        await gw.ex.set_leverage(leverage, symbol)
    except Exception as exc:  # noqa: BLE001 - "not modified" is success; everything else classified
        if not any(mark in str(exc) for mark in LEVERAGE_NOT_MODIFIED):
            _kind, code = classify(exc)
            gw.errors[code] += 1
            return code
        gw.counts["leverage_not_modified"] += 1
    gw.leverage[symbol] = leverage
    return None


async def place(gw: OrderVenue, order: Order) -> None:
    """The body of ``CcxtGateway.submit``: outcomes become events; never raises."""
    try:
        await _place(gw, order)
    except Exception as exc:  # noqa: BLE001 - the protocol: a submission reports, it does not raise
        _kind, code = classify(exc) if not isinstance(exc, VenueError) else (None, exc.code)
        gw.errors[code] += 1
        log.error("venue.submit_failed", venue=gw.venue, client_order_id=order.client_order_id, code=code)
        unconfirmed(gw, order, code)


async def _place(gw: OrderVenue, order: Order) -> None:
    symbol = gw.symbols[order.instrument_id]
    cid = venue_client_id(order.client_order_id, gw.venue)
    gw.track([order])
    inst = gw.instruments[order.instrument_id]
    if order.leverage and inst.is_derivative:
        code = await ensure_leverage(gw, symbol, order.leverage)
        if code is not None and order.purpose is Purpose.ENTRY and order.hedge_of is None:
            reject(gw, order, code)
            return
    if inst.min_notional and not order.reduce_only and order.purpose is Purpose.ENTRY:
        px = order.limit_price or _ref(order)
        if px and order.qty * inst.contract_size * px < inst.min_notional:
            reject(gw, order, "below_min_notional")
            return
    params = order_params(gw, order, cid)
    price = float(order.limit_price) if order.limit_price is not None else None
    amount = float(order.qty / inst.contract_size) if inst.is_derivative else float(order.qty)  # ccxt: contracts
    backoff = gw.new_backoff()
    for attempt in range(gw.max_retries + 1):
        try:
            resp = await gw.ex.create_order(symbol, order.order_type.value, order.side.value, amount, price, params)
        except Exception as exc:  # noqa: BLE001 - classified in one place just below
            kind, code = classify(exc)
            gw.errors[code] += 1
            if kind is ErrorKind.REJECT or kind is ErrorKind.STOP:
                log.warning("venue.rejected", venue=gw.venue, client_order_id=cid, code=code)
                reject(gw, order, code)
                return
            if code not in _NO_EFFECT:  # the order may exist: look before resending (never place twice)
                found = await confirm(gw, cid, symbol)
                if found is UNREADABLE:
                    unconfirmed(gw, order, code)
                    return
                if found is not None:
                    accept(gw, order, found)
                    return
            if kind is ErrorKind.UNKNOWN or attempt == gw.max_retries:
                reject(gw, order, code)
                return
            gw.retries[code] += 1
            await backoff.wait(gw.sleep)
            continue
        if not resp.get("id"):  # an answer without the venue's order id: the outcome is unknown, so look
            gw.errors["bad_response"] += 1
            found = await confirm(gw, cid, symbol)
            if found is UNREADABLE:
                unconfirmed(gw, order, "bad_response")
            elif found is None:
                reject(gw, order, "bad_response")
            else:
                accept(gw, order, found)
            return
        accept(gw, order, resp)
        return


def _ref(order: Order) -> Decimal | None:
    """The mid the governor priced the order at (what a market order's notional is judged by)."""
    return Decimal(str(order.ref_mid)) if order.ref_mid else None


async def confirm(gw: OrderVenue, cid: str, symbol: str, grace_secs: float | None = None) -> Any:
    """The venue's record of an order, looked up until ``grace_secs`` have passed: the record, None (the venue
    never saw it), or ``UNREADABLE`` (every lookup failed)."""
    grace = gw.lookup_grace_secs if grace_secs is None else grace_secs
    deadline = time.monotonic() + grace
    delay = max(0.05, grace / 8)
    while True:
        try:
            found = await gw.lookup(cid, symbol)
            readable = True
        except VenueError:
            found, readable = None, False
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None if readable else UNREADABLE
        await gw.sleep(min(delay, left))
        delay *= 2


def update_from(gw: OrderVenue, order: Order, r: Mapping[str, Any], reason: str = "") -> OrderUpdate:
    inst = gw.instruments[order.instrument_id]
    filled = Decimal(str(r.get("filled") or 0)) * (inst.contract_size if inst.is_derivative else 1)  # base units
    status = STATUS.get(r.get("status") or "open", OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    return OrderUpdate(gw.venue, order.client_order_id, status, filled, wall_ns(), reason)


STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.CANCELED,
}


def accept(gw: OrderVenue, order: Order, r: Mapping[str, Any]) -> None:
    gw.fills.accepted(order, r.get("id"))
    gw.unconfirmed.pop(order.client_order_id, None)
    gw.push_events([update_from(gw, order, r)])


def reject(gw: OrderVenue, order: Order, code: str) -> None:
    gw.push_events([OrderUpdate(gw.venue, order.client_order_id, OrderStatus.REJECTED, ZERO, wall_ns(), code)])


def unconfirmed(gw: OrderVenue, order: Order, code: str) -> None:
    """The venue may or may not have the order: it is reported working and looked up again until it says."""
    gw.unconfirmed[order.client_order_id] = (order, time.monotonic())
    gw.counts["unconfirmed"] += 1
    log.warning("venue.order_unconfirmed", venue=gw.venue, client_order_id=order.client_order_id, code=code)
    gw.push_events([OrderUpdate(gw.venue, order.client_order_id, OrderStatus.ACCEPTED, ZERO, wall_ns(), "unconfirmed")])


async def resolve_unconfirmed(gw: OrderVenue, give_up_secs: float = 120.0) -> None:
    """Look up each unconfirmed order once: its state when the venue has it; refused (``never_reached_venue``) when the
    venue answers that it has none and ``give_up_secs`` have passed since it was sent."""
    for client_id, (order, since) in list(gw.unconfirmed.items()):
        cid = venue_client_id(client_id, gw.venue)
        try:
            found = await gw.lookup(cid, gw.symbols[order.instrument_id])
        except VenueError:
            continue
        if found is not None:
            accept(gw, order, found)
        elif time.monotonic() - since > give_up_secs:
            gw.unconfirmed.pop(client_id, None)
            reject(gw, order, "never_reached_venue")


def orphan_order(cid: str, instrument_id: str, r: Mapping[str, Any], inst: Any) -> Order:
    """An open order carrying this run's client id prefix that the store does not have (the process died between
    the venue's acceptance and the write): enough of an order to cancel it and book what it filled."""
    size = inst.contract_size if inst.is_derivative else 1
    return Order(
        cid,
        "orphan",
        "orphan",
        instrument_id,
        Side(r.get("side") or "buy"),
        Decimal(str(r.get("amount") or 0)) * size,
        OrderType.LIMIT if r.get("type") == "limit" else OrderType.MARKET,
        Purpose.EXIT,
        int(r.get("timestamp") or 0) * 1_000_000,
        Decimal(str(r["price"])) if r.get("price") else None,
    )
