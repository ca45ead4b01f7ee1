"""G2 margin buffer: a leveraged leg must survive ``k·σ`` over its holding horizon and an adverse move without
liquidation, and keep its liquidation price ``liq_buffer`` beyond that (more under stress).

Liquidation price of a linear contract at leverage L, maintenance rate m: long ``P(1 − 1/L − m)``, short
``P(1 + 1/L + m)``; 50x long at 60,000 with m = 0.5% liquidates at 58,500, the short at 61,500.
"""

from __future__ import annotations

import math

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext
from bot.governor.rules_config import G2Config


def liquidation_price(price: float, long: bool, leverage: float, mmr: float) -> float:
    return price * (1 - 1 / leverage - mmr) if long else price * (1 + 1 / leverage + mmr)


def required_distance(cfg: G2Config, realized_vol: float | None) -> tuple[float, float]:
    """(required distance to liquidation as a fraction of price, buffer used)."""
    stressed = realized_vol is None or realized_vol > cfg.stress_vol
    buffer = cfg.liq_buffer_stress_pct if stressed else cfg.liq_buffer_pct
    move = cfg.adverse_move_pct
    if realized_vol is not None:
        move = max(move, cfg.sigma_multiple * realized_vol * math.sqrt(cfg.holding_horizon_days / 365.0))
    return move + buffer, buffer


class MarginBufferRule:
    rule_id = RuleId.G2
    relative = False

    def __init__(self, cfg: G2Config) -> None:
        self.cfg = cfg

    def check(self, ctx: CheckContext) -> RuleHit | None:
        for leg, pl in zip(ctx.intent.legs, ctx.legs, strict=True):
            inst = pl.instrument
            if not inst.is_derivative or not pl.increases:
                continue
            lev = float(leg.leverage or 1)
            mmr = float(inst.maintenance_margin_rate)
            distance = 1 / lev + mmr
            vol = ctx.tick.leverage(inst.id).realized_vol
            need, buffer = required_distance(self.cfg, vol)
            if distance < need:
                price = pl.snapshot.mark
                return RuleHit(
                    self.rule_id,
                    DenyCode.MARGIN_BUFFER,
                    0.0,
                    {
                        "instrument": inst.id,
                        "leverage": lev,
                        "mmr": mmr,
                        "price": price,
                        "liquidation_price": liquidation_price(price, pl.signed_qty > 0, lev, mmr),
                        "distance_pct": distance,
                        "required_pct": need,
                        "buffer_pct": buffer,
                        "realized_vol": vol,
                    },
                )
        return None
