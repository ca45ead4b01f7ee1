"""G7 at firm scope, as a pure function: may this entry's share be added to what every instance holds and has
reserved? (The I/O — reading the totals under a lock and writing the reservation — is ``bot.firm.budget``'s.)

Amounts are USD notionals at the reference price of each order (floats: limits need no exact money). ``net`` is
signed (long positive). A check denies (max scale 0) rather than resizes: the entry's orders were already sized by
the instance's own governor, and a firm that is nearly full is a reason to wait, not to trade a sliver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.domain import Instrument, Order, Side
from bot.governor.rules_config import FirmConfig


@dataclass(frozen=True, slots=True)
class FirmTotals:
    """What all instances hold (their last report) and have reserved, per base asset; the day's loss; the entry
    orders reserved in the last minute."""

    gross_by_asset: Mapping[str, float] = field(default_factory=dict)
    net_by_asset: Mapping[str, float] = field(default_factory=dict)
    daily_loss_usd: float = 0.0
    orders_last_minute: int = 0
    live_instances: int = 0
    expired_instances: int = 0

    @property
    def gross_total(self) -> float:
        return sum(self.gross_by_asset.values())

    @property
    def net_total(self) -> float:
        return sum(self.net_by_asset.values())


@dataclass(frozen=True, slots=True)
class FirmShare:
    """An entry's (or what is left of it) exposure per base asset, and its order count."""

    gross_by_asset: Mapping[str, float]
    net_by_asset: Mapping[str, float]
    orders: int = 0

    @property
    def empty(self) -> bool:
        return not any(self.gross_by_asset.values())


def share_of(
    orders: Iterable[tuple[Order, float]], instruments: Mapping[str, Instrument], count_orders: bool = True
) -> FirmShare:
    """The share of ``(order, quantity still to trade)`` pairs: notional at each order's reference mid."""
    gross: dict[str, float] = {}
    net: dict[str, float] = {}
    n = 0
    for order, qty in orders:
        n += 1
        if qty <= 0:
            continue
        base = instruments[order.instrument_id].base
        notional = qty * order.ref_mid
        gross[base] = gross.get(base, 0.0) + notional
        net[base] = net.get(base, 0.0) + (notional if order.side is Side.BUY else -notional)
    return FirmShare(gross, net, n if count_orders else 0)


def firm_check(totals: FirmTotals, share: FirmShare, cfg: FirmConfig) -> RuleHit | None:
    """The first firm limit the share would breach, or None. Net limits bind only a share that moves the net away
    from zero beyond its cap (a hedge that shrinks it always fits), as in G7."""
    if totals.daily_loss_usd >= cfg.max_daily_loss_usd:
        return _deny(DenyCode.FIRM_DAILY_LOSS, loss_usd=totals.daily_loss_usd, cap_usd=cfg.max_daily_loss_usd)
    if share.orders and totals.orders_last_minute + share.orders > cfg.max_orders_per_minute:
        return _deny(
            DenyCode.FIRM_ORDER_RATE,
            orders_last_minute=totals.orders_last_minute,
            added=share.orders,
            cap=cfg.max_orders_per_minute,
        )
    for asset in sorted(share.gross_by_asset):
        gross_cap, net_cap = cfg.caps_of(asset)
        now, added = totals.gross_by_asset.get(asset, 0.0), share.gross_by_asset[asset]
        if added > 0 and now + added > gross_cap:
            return _deny(DenyCode.FIRM_GROSS_ASSET, asset=asset, gross_usd=now, added_usd=added, cap_usd=gross_cap)
        now_net = totals.net_by_asset.get(asset, 0.0)
        after = now_net + share.net_by_asset.get(asset, 0.0)
        if abs(after) > net_cap and abs(after) > abs(now_net):
            return _deny(DenyCode.FIRM_NET_ASSET, asset=asset, net_usd=now_net, net_after_usd=after, cap_usd=net_cap)
    added_total = sum(share.gross_by_asset.values())
    if added_total > 0 and totals.gross_total + added_total > cfg.max_gross_total_usd:
        return _deny(
            DenyCode.FIRM_GROSS_TOTAL,
            gross_usd=totals.gross_total,
            added_usd=added_total,
            cap_usd=cfg.max_gross_total_usd,
        )
    now_net = totals.net_total
    after = now_net + sum(share.net_by_asset.values())
    if abs(after) > cfg.max_net_total_usd and abs(after) > abs(now_net):
        return _deny(DenyCode.FIRM_NET_TOTAL, net_usd=now_net, net_after_usd=after, cap_usd=cfg.max_net_total_usd)
    return None


def unreachable(reason: str) -> RuleHit:
    """Entries fail closed when the firm store cannot be asked."""
    return _deny(DenyCode.FIRM_UNREACHABLE, reason=reason)


def _deny(code: DenyCode, **inputs: float | int | str) -> RuleHit:
    return RuleHit(RuleId.G7, code, 0.0, {"scope": "firm", **inputs})
