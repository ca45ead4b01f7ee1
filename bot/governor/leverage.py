"""G1 volatility-scaled leverage.

``max_leverage = clamp(base × target_vol / realized_vol, min, cap)``, halved when realized volatility or liquidation
intensity exceeds its threshold, and multiplied by ``elevated_funding_factor`` when |funding| (8h-equivalent) is
elevated. Leverage here is the account's gross exposure over its equity; an intent that would take the account above
the cap of its most volatile leg is resized down to fit.
"""

from __future__ import annotations

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext, LeverageCap
from bot.governor.rules_config import G1Config
from bot.governor.signals import LeverageInputs


def max_leverage(
    cfg: G1Config, realized_vol: float | None, liq_intensity: float | None = None, funding_8h: float | None = None
) -> LeverageCap:
    """G1's cap for one instrument. Unknown volatility gives the floor, not the base (no data, no leverage)."""
    if realized_vol is None:
        lev = cfg.min_leverage
    elif realized_vol <= 0:
        lev = cfg.cap
    else:
        lev = min(cfg.cap, max(cfg.min_leverage, cfg.base_leverage * cfg.target_vol / realized_vol))
    halved = (realized_vol is not None and realized_vol > cfg.halve_above_vol) or (
        liq_intensity is not None and liq_intensity > cfg.halve_above_liq_intensity
    )
    if halved:
        lev *= 0.5
    elevated = funding_8h is not None and abs(funding_8h) > cfg.elevated_funding_8h
    factor = cfg.elevated_funding_factor if elevated else 1.0
    return LeverageCap(lev * factor, realized_vol, halved, factor)


def leverage_from(cfg: G1Config, inputs: LeverageInputs | None) -> LeverageCap:
    """The same cap from the three signals it reads (``SignalTracker.leverage_inputs``)."""
    if inputs is None:
        return max_leverage(cfg, None)
    return max_leverage(cfg, inputs.realized_vol, inputs.liq_intensity, inputs.funding_8h)


class LeverageRule:
    rule_id = RuleId.G1
    relative = False

    def check(self, ctx: CheckContext) -> RuleHit | None:
        equity = ctx.account.equity
        added = ctx.added_gross_total
        if added <= 0:
            return None
        worst = min((ctx.tick.leverage(leg.instrument.id) for leg in ctx.legs), key=lambda c: c.max_leverage)
        room = worst.max_leverage * equity - ctx.account.gross_total
        if added <= room:
            return None
        return RuleHit(
            self.rule_id,
            DenyCode.LEVERAGE_CAP,
            max(0.0, room / added),
            {
                "max_leverage": worst.max_leverage,
                "realized_vol": worst.realized_vol,
                "halved": int(worst.halved),
                "funding_factor": worst.funding_factor,
                "equity_usd": equity,
                "gross_usd": ctx.account.gross_total,
                "added_usd": added,
                "leverage_after": (ctx.account.gross_total + added) / equity if equity > 0 else None,
            },
        )
