"""G2 margin buffer: a leveraged leg must survive ``k·σ`` over its holding horizon and an adverse move without
liquidation, and keep its liquidation price ``liq_buffer`` beyond that (more under stress).

Liquidation price of a linear contract at leverage L, maintenance rate m: the seed's long ``P(1 − 1/L − m)``, short
``P(1 + 1/L + m)`` (50x at 60,000, m = 0.5%: 58,500 / 61,500); venues liquidate isolated positions nearer, long
``P(1 − 1/L)/(1 − m)``, short ``P(1 + 1/L)/(1 + m)`` (59,095.48 / 60,895.52). G2 keeps its buffer against the nearer.
"""

from __future__ import annotations

import math

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext
from bot.governor.rules_config import G2Config


def liquidation_price(price: float, long: bool, leverage: float, mmr: float) -> float:
    """The seed's formula: long ``P(1 − 1/L − m)``, short ``P(1 + 1/L + m)``."""
    return price * (1 - 1 / leverage - mmr) if long else price * (1 + 1 / leverage + mmr)


def venue_liquidation_price(price: float, long: bool, leverage: float, mmr: float) -> float:
    """As venues liquidate an isolated position: long ``P(1 − 1/L)/(1 − m)``, short ``P(1 + 1/L)/(1 + m)``."""
    return price * (1 - 1 / leverage) / (1 - mmr) if long else price * (1 + 1 / leverage) / (1 + mmr)


def nearer_liquidation_price(price: float, long: bool, leverage: float, mmr: float) -> float:
    """The nearer of the two (SPEC G2 keeps its buffers against it)."""
    seed, venue = liquidation_price(price, long, leverage, mmr), venue_liquidation_price(price, long, leverage, mmr)
    return max(seed, venue) if long else min(seed, venue)


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
            long = pl.signed_qty > 0
            distance = abs(nearer_liquidation_price(1.0, long, lev, mmr) - 1)
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
                        "liquidation_price": nearer_liquidation_price(price, long, lev, mmr),
                        "distance_pct": distance,
                        "required_pct": need,
                        "buffer_pct": buffer,
                        "realized_vol": vol,
                    },
                )
        return None
