"""Default fee schedules and contract parameters for the venues the bundled data covers.

Fees are each venue's published *regular user* (VIP 0 / Lv1) tier without token discounts. Maintenance margin
rates are the first notional tier for BTC and ETH USDT-margined perpetuals (Binance: 0.40% per its leverage
brackets, also in freqtrade's `binance_leverage_tiers.json`; Bybit: 0.50%; OKX: 0.40%).
"""

from __future__ import annotations

from decimal import Decimal

from bot.accounts import MarginTier
from bot.domain import FeeSchedule, Instrument, InstrumentKind

D = Decimal

SPOT_FEES: dict[str, FeeSchedule] = {
    "binance": FeeSchedule(maker=D("0.001"), taker=D("0.001")),
    "bybit": FeeSchedule(maker=D("0.001"), taker=D("0.001")),
    "okx": FeeSchedule(maker=D("0.0008"), taker=D("0.001")),
}
PERP_FEES: dict[str, FeeSchedule] = {
    "binance": FeeSchedule(maker=D("0.0002"), taker=D("0.0005")),
    "bybit": FeeSchedule(maker=D("0.0002"), taker=D("0.00055")),
    "okx": FeeSchedule(maker=D("0.0002"), taker=D("0.0005")),
}
PERP_MAINTENANCE: dict[str, Decimal] = {"binance": D("0.004"), "bybit": D("0.005"), "okx": D("0.004")}
# Binance USDⓈ-M leverage brackets for BTCUSDT and ETHUSDT (max notional, maintenance rate, maintenance amount
# "cum", max leverage), as Binance publishes them (GET /fapi/v1/leverageBracket); recorded in freqtrade's
# binance_leverage_tiers.json snapshot (about 2024-10). Bybit's and OKX's tables are not in the bundled sources:
# their perps keep the flat first-tier rate above (which understates maintenance for positions past the first tier).
BINANCE_TIERS: dict[str, tuple[MarginTier, ...]] = {
    "BTC": (
        MarginTier(50000, 0.004, 0, 125),
        MarginTier(600000, 0.005, 50, 100),
        MarginTier(3000000, 0.0065, 950, 75),
        MarginTier(12000000, 0.01, 11450, 50),
        MarginTier(70000000, 0.02, 131450, 25),
        MarginTier(100000000, 0.025, 481450, 20),
        MarginTier(230000000, 0.05, 2981450, 10),
        MarginTier(480000000, 0.1, 14481450, 5),
        MarginTier(600000000, 0.125, 26481450, 4),
        MarginTier(800000000, 0.15, 41481450, 3),
        MarginTier(1200000000, 0.25, 121481450, 2),
        MarginTier(1800000000, 0.5, 421481450, 1),
    ),
    "ETH": (
        MarginTier(50000, 0.004, 0, 125),
        MarginTier(600000, 0.005, 50, 100),
        MarginTier(3000000, 0.0065, 950, 75),
        MarginTier(12000000, 0.01, 11450, 50),
        MarginTier(50000000, 0.02, 131450, 25),
        MarginTier(65000000, 0.025, 381450, 20),
        MarginTier(150000000, 0.05, 2006450, 10),
        MarginTier(320000000, 0.1, 9506450, 5),
        MarginTier(400000000, 0.125, 17506450, 4),
        MarginTier(530000000, 0.15, 27506450, 3),
        MarginTier(800000000, 0.25, 80506450, 2),
        MarginTier(1200000000, 0.5, 280506450, 1),
    ),
}


def margin_tiers(instruments: dict[str, Instrument]) -> dict[str, tuple[MarginTier, ...]]:
    """Leverage brackets per perp instrument id, where the bundled tables have them."""
    return {
        iid: BINANCE_TIERS[i.base]
        for iid, i in instruments.items()
        if i.venue == "binance" and i.kind is InstrumentKind.PERP and i.quote == "USDT" and i.base in BINANCE_TIERS
    }


QTY_STEP: dict[str, Decimal] = {"BTC": D("0.001"), "ETH": D("0.01")}


def default_instruments(
    venues: tuple[str, ...], bases: tuple[str, ...], funding_interval_secs: int = 8 * 3600, quote: str = "USDT"
) -> dict[str, Instrument]:
    """Spot and linear-perp instruments for every (venue, base), keyed by instrument id."""
    out: dict[str, Instrument] = {}
    for venue in venues:
        if venue not in SPOT_FEES:
            raise ValueError(f"no fee schedule for venue {venue!r}")
        for base in bases:
            step = QTY_STEP.get(base, D("0.001"))
            spot = Instrument(
                venue=venue,
                symbol=f"{base}/{quote}",
                kind=InstrumentKind.SPOT,
                base=base,
                quote=quote,
                fees=SPOT_FEES[venue],
                qty_step=step,
                min_qty=step,
            )
            perp = Instrument(
                venue=venue,
                symbol=f"{base}/{quote}:{quote}",
                kind=InstrumentKind.PERP,
                base=base,
                quote=quote,
                fees=PERP_FEES[venue],
                qty_step=step,
                min_qty=step,
                maintenance_margin_rate=PERP_MAINTENANCE[venue],
                funding_interval_secs=funding_interval_secs,
            )
            out[spot.id] = spot
            out[perp.id] = perp
    return out
