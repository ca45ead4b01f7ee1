"""G7 hard limits on an intent: notional per order; gross and net exposure per venue and in total; equity at risk
per position; order rate; open orders. Exposure caps resize to fit; rate and count caps deny."""

from __future__ import annotations

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext
from bot.governor.rules_config import G2Config, G7Config


class MaxOrderNotional:
    rule_id = RuleId.G7
    relative = False

    def __init__(self, cfg: G7Config) -> None:
        self._cap = cfg.max_order_notional_usd

    def check(self, ctx: CheckContext) -> RuleHit | None:
        biggest = max(ctx.legs, key=lambda leg: leg.notional)
        if biggest.notional <= self._cap:
            return None
        return RuleHit(
            self.rule_id,
            DenyCode.MAX_ORDER_NOTIONAL,
            self._cap / biggest.notional,
            {"instrument": biggest.instrument.id, "notional_usd": biggest.notional, "cap_usd": self._cap},
        )


def _fit(current: float, added: float, cap: float) -> float:
    """Largest share of ``added`` that keeps ``current + share × added`` within ``cap``."""
    return max(0.0, (cap - current) / added)


class MaxGrossExposure:
    """Resize so that gross exposure after the intent stays within the venue and total caps."""

    rule_id = RuleId.G7
    relative = False

    def __init__(self, cfg: G7Config) -> None:
        self._venue_cap = cfg.max_gross_venue_usd
        self._total_cap = cfg.max_gross_total_usd

    def check(self, ctx: CheckContext) -> RuleHit | None:
        worst: RuleHit | None = None
        for venue, added in ctx.added_gross_by_venue.items():
            current = ctx.account.gross_by_venue.get(venue, 0.0)
            if added > 0 and current + added > self._venue_cap:
                scale = _fit(current, added, self._venue_cap)
                if worst is None or scale < worst.max_scale:
                    worst = RuleHit(
                        self.rule_id,
                        DenyCode.MAX_GROSS_VENUE,
                        scale,
                        {"venue": venue, "gross_usd": current, "added_usd": added, "cap_usd": self._venue_cap},
                    )
        added, current = ctx.added_gross_total, ctx.account.gross_total
        if added > 0 and current + added > self._total_cap:
            scale = _fit(current, added, self._total_cap)
            if worst is None or scale < worst.max_scale:
                worst = RuleHit(
                    self.rule_id,
                    DenyCode.MAX_GROSS_TOTAL,
                    scale,
                    {"gross_usd": current, "added_usd": added, "cap_usd": self._total_cap},
                )
        return worst


class MaxNetExposure:
    """Net (delta) exposure per venue and in total may not grow beyond its cap; shrinking it is always fine."""

    rule_id = RuleId.G7
    relative = False

    def __init__(self, cfg: G7Config) -> None:
        self._venue_cap = cfg.max_net_venue_usd
        self._total_cap = cfg.max_net_total_usd

    def check(self, ctx: CheckContext) -> RuleHit | None:
        added: dict[str, float] = {}
        for pl in ctx.legs:
            v = pl.instrument.venue
            added[v] = added.get(v, 0.0) + pl.signed_qty * pl.snapshot.mark
        worst: RuleHit | None = None
        acct = ctx.account
        for venue, delta in added.items():
            hit = self._one(acct.net_by_venue.get(venue, 0.0), delta, self._venue_cap, DenyCode.MAX_NET_VENUE, venue)
            if hit is not None and (worst is None or hit.max_scale < worst.max_scale):
                worst = hit
        hit = self._one(acct.net_total, sum(added.values()), self._total_cap, DenyCode.MAX_NET_TOTAL, None)
        if hit is not None and (worst is None or hit.max_scale < worst.max_scale):
            worst = hit
        return worst

    def _one(self, now: float, delta: float, cap: float, code: DenyCode, venue: str | None) -> RuleHit | None:
        after = now + delta
        if abs(after) <= cap or abs(after) <= abs(now):
            return None
        bound = cap if delta > 0 else -cap
        scale = max(0.0, (bound - now) / delta)
        return RuleHit(
            self.rule_id,
            code,
            min(1.0, scale),
            {"venue": venue, "net_usd": now, "net_after_usd": after, "cap_usd": cap},
        )


class RiskPerPosition:
    """Equity at risk in the intent's position (its base asset, all venues): |net delta| × the G2 adverse move plus
    gross × a basis stress move, at most ``max_risk_per_position_pct`` of equity."""

    rule_id = RuleId.G7
    relative = False

    def __init__(self, cfg: G7Config, g2: G2Config) -> None:
        self._max = cfg.max_risk_per_position_pct
        self._basis = cfg.basis_stress_pct
        self._move = g2.adverse_move_pct

    def _risk(self, net: float, gross: float) -> float:
        return abs(net) * self._move + gross * self._basis

    def check(self, ctx: CheckContext) -> RuleHit | None:
        base = ctx.legs[0].instrument.base
        acct = ctx.account
        net, gross = acct.net_by_base.get(base, 0.0), acct.gross_by_base.get(base, 0.0)
        d_net = d_gross = 0.0
        for pl in ctx.legs:
            if pl.instrument.base == base:
                d_net += pl.signed_qty * pl.snapshot.mark
                d_gross += pl.notional if pl.increases else -pl.notional
        before, after = self._risk(net, gross), self._risk(net + d_net, gross + d_gross)
        limit = self._max * acct.equity
        if after <= limit or after <= before:
            return None
        scale = max(0.0, (limit - before) / (after - before))
        return RuleHit(
            self.rule_id,
            DenyCode.MAX_RISK_PER_POSITION,
            min(1.0, scale),
            {"base": base, "risk_usd": before, "risk_after_usd": after, "limit_usd": limit},
        )


class OrderFlowLimits:
    """Order rate (approved orders in the last minute) and open orders."""

    rule_id = RuleId.G7
    relative = False

    def __init__(self, cfg: G7Config) -> None:
        self._rate = cfg.max_orders_per_minute
        self._open = cfg.max_open_orders

    def check(self, ctx: CheckContext) -> RuleHit | None:
        n = len(ctx.legs)
        if ctx.recent_orders + n > self._rate:
            return RuleHit(
                self.rule_id,
                DenyCode.ORDER_RATE,
                0.0,
                {"orders_last_minute": ctx.recent_orders, "adding": n, "max_per_minute": self._rate},
            )
        if ctx.account.open_orders + n > self._open:
            return RuleHit(
                self.rule_id,
                DenyCode.MAX_OPEN_ORDERS,
                0.0,
                {"open_orders": ctx.account.open_orders, "adding": n, "max_open_orders": self._open},
            )
        return None
