"""Shared fakes and builders for tests (one place, so tests read as specs)."""

from __future__ import annotations

import os
from decimal import Decimal

from bot.domain import (
    NS_PER_SEC,
    FundingSettlement,
    IntentLeg,
    MarketBatch,
    MarketSnapshot,
    OrderIntent,
    Origin,
    Purpose,
    Side,
)
from bot.governor import Governor, RulesConfig
from bot.governor.context import AccountView
from bot.venues.fees import default_instruments

# examples per property test and fuzz target: 400 in the README's test command, more in a deep run
# (``.ci/run`` has a step with CARRYBOT_FUZZ_EXAMPLES=2000)
FUZZ_EXAMPLES = int(os.environ.get("CARRYBOT_FUZZ_EXAMPLES", "400"))

T0 = 1_700_000_000 * NS_PER_SEC  # 2023-11-14T22:13:20Z
INSTRUMENTS = default_instruments(("binance", "bybit", "okx"), ("BTC", "ETH"))
BTC_SPOT = "binance:BTC/USDT"
BTC_PERP = "binance:BTC/USDT:USDT"


def snap(
    iid: str = BTC_PERP,
    price: float = 60_000.0,
    ts_ns: int = T0,
    half_spread: float = 5.0,
    index: float | None = None,
    rate: float | None = None,
    settle: bool = False,
    high: float | None = None,
    low: float | None = None,
    last: float | None = None,
    mark: float | None = None,
) -> MarketSnapshot:
    perp = iid.endswith(":USDT")
    return MarketSnapshot(
        iid,
        ts_ns,
        price - half_spread,
        price + half_spread,
        last if last is not None else price,
        mark if mark is not None else price,
        index=index if index is not None else price,
        range_high=high,
        range_low=low,
        funding_rate=(rate if rate is not None else 0.0001) if perp else None,
        funding_interval_secs=8 * 3600 if perp else None,
        ts_next_funding_ns=ts_ns + 8 * 3600 * NS_PER_SEC if perp else None,
        settlement=FundingSettlement(ts_ns, rate) if (settle and rate is not None) else None,
    )


def batch(*snaps: MarketSnapshot) -> MarketBatch:
    return MarketBatch(snaps[0].ts_ns, tuple(snaps))


def pair_intent(
    qty: str = "0.5",
    purpose: Purpose = Purpose.ENTRY,
    origin: Origin = Origin.STRATEGY,
    intent_id: str = "i-1",
    flatten: bool = False,
    ts_ns: int = T0,
    spot: str = BTC_SPOT,
    perp: str = BTC_PERP,
    spot_side: Side = Side.BUY,
) -> OrderIntent:
    q = Decimal(qty)
    return OrderIntent(
        intent_id,
        origin,
        "test",
        purpose,
        (IntentLeg(spot, spot_side, q), IntentLeg(perp, spot_side.opposite, q)),
        ts_ns,
        flatten=flatten,
    )


def account(
    equity: float = 300_000.0,
    positions: dict[str, float] | None = None,
    prices: dict[str, float] | None = None,
    liq_prices: dict[str, float] | None = None,
    open_orders: int = 0,
) -> AccountView:
    positions = positions or {}
    prices = prices or {}
    gross: dict[str, float] = {}
    net: dict[str, float] = {}
    net_base: dict[str, float] = {}
    gross_base: dict[str, float] = {}
    for iid, q in positions.items():
        inst = INSTRUMENTS[iid]
        value = q * prices.get(iid, 60_000.0)
        gross[inst.venue] = gross.get(inst.venue, 0.0) + abs(value)
        net[inst.venue] = net.get(inst.venue, 0.0) + value
        net_base[inst.base] = net_base.get(inst.base, 0.0) + value
        gross_base[inst.base] = gross_base.get(inst.base, 0.0) + abs(value)
    return AccountView(
        equity,
        positions,
        gross,
        sum(gross.values()),
        open_orders,
        liq_prices or {},
        net,
        sum(net.values()),
        net_base,
        gross_base,
    )


def rules(**sections: dict) -> RulesConfig:
    """Default rules with some sections' fields overridden: ``rules(g7={"max_order_notional_usd": 1e3})``."""
    base = RulesConfig().model_dump()
    for name, fields in sections.items():
        base[name] = base[name] | fields
    return RulesConfig.model_validate(base)


def governor(**sections: dict) -> Governor:
    return Governor(rules(**sections), INSTRUMENTS)


def hit(decision, code):
    """The rule hit with ``code`` in a decision, or None."""
    return next((h for h in decision.hits if h.code is code), None)
