"""G4 expiry-week rules on intents: no new leveraged position inside the blackout; final-week entries sized down;
funding signals discounted in the two weeks before an expiry. Front-month open-interest concentration above
``high_pressure_oi_share`` shrinks final-week entries further; below ``muted_oi_share`` the final-week sizing is lifted
(the blackout still holds). Without dated-futures open interest in the feed the share is unavailable and the plain
final-week factor applies."""

from __future__ import annotations

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext
from bot.governor.rules_config import G4Config


class ExpiryRule:
    rule_id = RuleId.G4
    relative = True

    def __init__(self, cfg: G4Config) -> None:
        self.cfg = cfg

    def check(self, ctx: CheckContext) -> RuleHit | None:
        ph = ctx.tick.phase
        if not ph.in_funding_discount:
            return None
        inputs = {"hours_to_final": ph.hours_to_final, "calendar": ph.venue}
        if ph.in_blackout and any(pl.instrument.is_derivative and pl.increases for pl in ctx.legs):
            return RuleHit(self.rule_id, DenyCode.EXPIRY_BLACKOUT, 0.0, inputs)
        edge = ctx.intent.edge_apr
        if edge is not None and edge * self.cfg.funding_signal_discount < self.cfg.min_discounted_edge_apr:
            return RuleHit(
                self.rule_id,
                DenyCode.EXPIRY_FUNDING_DISCOUNT,
                0.0,
                inputs
                | {
                    "edge_apr": edge,
                    "discount": self.cfg.funding_signal_discount,
                    "min_edge_apr": self.cfg.min_discounted_edge_apr,
                },
            )
        if ph.in_final_week:
            share = ctx.tick.front_month_oi_share
            factor = self.cfg.final_week_size_factor
            if share is not None and share > self.cfg.high_pressure_oi_share:
                factor *= self.cfg.high_pressure_size_factor  # high-pressure window
            elif share is not None and share < self.cfg.muted_oi_share:
                return None  # muted window: only the blackout applies
            return RuleHit(self.rule_id, DenyCode.EXPIRY_FINAL_WEEK, factor, inputs | {"front_month_oi_share": share})
        return None
