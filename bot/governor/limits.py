"""G7 hard limits on an intent: notional per order, gross exposure per venue and in total (resize to fit)."""

from __future__ import annotations

from bot.domain import DenyCode, RuleHit
from bot.governor.context import CheckContext
from bot.governor.rules_config import G7Config


class MaxOrderNotional:
    rule_id = "G7"
    entry_only = True

    def __init__(self, cfg: G7Config) -> None:
        self._cap = cfg.max_order_notional_usd

    def check(self, ctx: CheckContext) -> RuleHit | None:
        biggest = max(ctx.legs, key=lambda leg: leg.notional)
        if biggest.notional <= self._cap:
            return None
        return RuleHit(self.rule_id, DenyCode.MAX_ORDER_NOTIONAL, self._cap / biggest.notional, {
            "instrument": biggest.instrument.id, "notional_usd": biggest.notional, "cap_usd": self._cap})


class MaxGrossExposure:
    """Resize so that gross exposure after the intent stays within the venue and total caps."""

    rule_id = "G7"
    entry_only = True

    def __init__(self, cfg: G7Config) -> None:
        self._venue_cap = cfg.max_gross_venue_usd
        self._total_cap = cfg.max_gross_total_usd

    def check(self, ctx: CheckContext) -> RuleHit | None:
        worst: RuleHit | None = None
        for venue, added in ctx.added_gross_by_venue.items():
            if added <= 0:
                continue
            current = ctx.account.gross_by_venue.get(venue, 0.0)
            if current + added > self._venue_cap:
                scale = max(0.0, (self._venue_cap - current) / added)
                if worst is None or scale < worst.max_scale:
                    worst = RuleHit(self.rule_id, DenyCode.MAX_GROSS_VENUE, scale, {
                        "venue": venue, "gross_usd": current, "added_usd": added, "cap_usd": self._venue_cap})
        added = ctx.added_gross_total
        current = ctx.account.gross_total
        if added > 0 and current + added > self._total_cap:
            scale = max(0.0, (self._total_cap - current) / added)
            if worst is None or scale < worst.max_scale:
                worst = RuleHit(self.rule_id, DenyCode.MAX_GROSS_TOTAL, scale, {
                    "gross_usd": current, "added_usd": added, "cap_usd": self._total_cap})
        return worst
