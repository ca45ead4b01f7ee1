"""The bot's view of its account for the governor, built once per tick from the ledger and the latest marks."""

from __future__ import annotations

from collections.abc import Mapping

from bot.accounts import AccountState
from bot.decisions import HedgeGap
from bot.domain import Instrument, MarketSnapshot
from bot.governor.context import AccountView
from bot.governor.margin import nearer_liquidation_price
from bot.ledger import Ledger


def account_view(
    ledger: Ledger,
    market: Mapping[str, MarketSnapshot],
    instruments: Mapping[str, Instrument],
    leverage: Mapping[str, int],
    open_orders: int,
    hedge_gaps: Mapping[str, HedgeGap],
    store_ok: bool,
    states: Mapping[str, AccountState] | None = None,
) -> AccountView:
    """``states``: the venues' own accounts where a gateway reports them; a derivative's liquidation price is then
    the venue's (collateral, cross margin, posted isolated margin); elsewhere the nearer formula at its leverage."""
    venue_liq: dict[str, float] = {}
    for st in (states or {}).values():
        venue_liq.update(st.liquidation_prices)
    positions: dict[str, float] = {}
    gross: dict[str, float] = {}
    net: dict[str, float] = {}
    net_base: dict[str, float] = {}
    gross_base: dict[str, float] = {}
    liq: dict[str, float] = {}
    for iid, book in ledger.legs.items():
        q = book.fqty
        if not q:
            continue
        positions[iid] = q
        inst = instruments[iid]
        mark = market[iid].mark
        value = q * mark
        venue, base = inst.venue, inst.base
        gross[venue] = gross.get(venue, 0.0) + abs(value)
        net[venue] = net.get(venue, 0.0) + value
        net_base[base] = net_base.get(base, 0.0) + value
        gross_base[base] = gross_base.get(base, 0.0) + abs(value)
        if inst.is_derivative:
            if states and venue in states:
                if iid in venue_liq:  # a cross account no move of this base alone can liquidate has no price
                    liq[iid] = venue_liq[iid]
            else:
                lev = leverage.get(iid, 1)
                liq[iid] = nearer_liquidation_price(book.favg, q > 0, lev, float(inst.maintenance_margin_rate))
    equity = ledger.equity_estimate(lambda i: market[i].mark)
    return AccountView(
        equity,
        positions,
        gross,
        sum(gross.values()),
        open_orders,
        liq,
        net,
        sum(net.values()),
        net_base,
        gross_base,
        hedge_gaps,
        store_ok,
        dict(states or {}),
    )
