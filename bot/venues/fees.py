"""Default fee schedules and contract parameters for the venues the bundled data covers.

Fees are each venue's published *regular user* (VIP 0 / Lv1) tier without token discounts. Maintenance margin
rates are the first notional tier for BTC and ETH USDT-margined perpetuals (Binance: 0.40% per its leverage
brackets, also in freqtrade's `binance_leverage_tiers.json`; Bybit: 0.50%; OKX: 0.40%).
"""

from __future__ import annotations

from decimal import Decimal

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
