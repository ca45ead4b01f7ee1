"""G6 execution hygiene: entries refused on stale, wide, jumpy or insane prices (fail closed). The post-only
conversion of entry legs happens where orders are built (``engine``), driven by ``g6.entries_post_only``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.domain import NS_PER_SEC, OrderIntent, OrderType, Side
from bot.governor.context import CheckContext, PricedLeg
from bot.governor.rules_config import G6Config


class Staleness:
    """Price staleness, and funding staleness on perpetual legs."""

    rule_id = RuleId.G6
    relative = False

    def __init__(self, cfg: G6Config) -> None:
        self._max_age_ns = int(cfg.max_snapshot_age_secs * NS_PER_SEC)
        self._max_age_secs = cfg.max_snapshot_age_secs
        self._max_funding_ns = int(cfg.max_funding_age_secs * NS_PER_SEC)

    def check(self, ctx: CheckContext) -> RuleHit | None:
        now = ctx.now_ns
        for leg in ctx.legs:
            s = leg.snapshot
            age = now - s.ts_ns
            if age > self._max_age_ns:
                return RuleHit(
                    self.rule_id,
                    DenyCode.STALE_SNAPSHOT,
                    0.0,
                    {"instrument": leg.instrument.id, "age_secs": age / NS_PER_SEC, "max_age_secs": self._max_age_secs},
                )
            if leg.instrument.funding_interval_secs:
                if s.funding_rate is None or s.ts_next_funding_ns is None:
                    return RuleHit(
                        self.rule_id,
                        DenyCode.FUNDING_STALE,
                        0.0,
                        {"instrument": leg.instrument.id, "funding_age_secs": None},
                    )
                last_settlement = s.ts_next_funding_ns - leg.instrument.funding_interval_secs * NS_PER_SEC
                if now - last_settlement > self._max_funding_ns:
                    return RuleHit(
                        self.rule_id,
                        DenyCode.FUNDING_STALE,
                        0.0,
                        {
                            "instrument": leg.instrument.id,
                            "funding_age_secs": (now - last_settlement) / NS_PER_SEC,
                            "max_funding_age_secs": self._max_funding_ns / NS_PER_SEC,
                        },
                    )
        return None


class PriceCollar:
    """Every order, risk-reducing ones included (as exchanges and SEC Rule 15c3-5 collar them).

    No order on a print the price guard holds as suspect (the guard screens every mark against its own history and
    the same asset elsewhere), and none at a price beyond ``collar_pct`` of the mark. An entry outside the band is
    refused; a risk-reducing market order whose touch is beyond it becomes a limit order at the band's edge (it
    works the position down inside the band, or waits); a book beyond the band on the *favourable* side is broken,
    and nothing is sent into it."""

    rule_id = RuleId.G6

    def __init__(self, cfg: G6Config) -> None:
        self._pct = cfg.collar_pct

    def check(
        self, intent: OrderIntent, legs: Sequence[PricedLeg], reducing: bool
    ) -> tuple[RuleHit | None, dict[int, Decimal]]:
        pct = self._pct
        limits: dict[int, Decimal] = {}
        for i, (leg, pl) in enumerate(zip(intent.legs, legs, strict=True)):
            s, inst = pl.snapshot, pl.instrument
            if s.suspect:
                return RuleHit(
                    self.rule_id, DenyCode.PRICE_UNCONFIRMED, 0.0, {"instrument": inst.id, "trusted_mark": s.mark}
                ), {}
            ref = s.mark  # screened by the price guard against its own history and the same asset elsewhere
            buy = leg.side is Side.BUY
            if leg.order_type is OrderType.LIMIT and leg.limit_price is not None:
                px = float(leg.limit_price)
                dev = px / ref - 1.0
                if (dev > pct) if buy else (dev < -pct):
                    return RuleHit(
                        self.rule_id,
                        DenyCode.PRICE_COLLAR,
                        0.0,
                        {"instrument": inst.id, "limit": px, "mark": ref, "collar_pct": pct},
                    ), {}
                continue
            touch = s.ask if buy else s.bid
            dev = touch / ref - 1.0
            adverse = dev > pct if buy else dev < -pct
            favourable = dev < -pct if buy else dev > pct
            if favourable or (adverse and not reducing):
                return RuleHit(
                    self.rule_id,
                    DenyCode.PRICE_COLLAR,
                    0.0,
                    {
                        "instrument": inst.id,
                        "touch": touch,
                        "mark": ref,
                        "collar_pct": pct,
                        "reason": "book_off_reference" if favourable else "touch_beyond_collar",
                    },
                ), {}
            if adverse:
                edge = Decimal(repr(ref * (1.0 + pct if buy else 1.0 - pct)))
                steps = (edge / inst.price_tick).to_integral_value(rounding=ROUND_FLOOR if buy else ROUND_CEILING)
                limits[i] = steps * inst.price_tick
        if limits:
            return RuleHit(
                self.rule_id,
                DenyCode.PRICE_COLLAR,
                1.0,
                {"legs": len(limits), "collar_pct": pct, "reason": "market_to_collar_limit"},
            ), limits
        return None, limits


class PriceSanity:
    rule_id = RuleId.G6
    relative = False

    def __init__(self, cfg: G6Config) -> None:
        self._band = cfg.price_band_pct
        self._max_basis = cfg.max_basis_apr

    def check(self, ctx: CheckContext) -> RuleHit | None:
        band = self._band
        for leg in ctx.legs:
            s = leg.snapshot
            if s.suspect:
                return RuleHit(self.rule_id, DenyCode.PRICE_UNCONFIRMED, 0.0, {"instrument": leg.instrument.id})
            dev_last = abs(s.last / s.mark - 1.0)
            dev_index = abs(s.mark / s.index - 1.0) if s.index else 0.0
            expiry = leg.instrument.ts_expiry_ns
            if expiry is not None and s.index:  # a dated future trades at a basis: judge it annualized
                days = max((expiry - ctx.now_ns) / (86_400 * NS_PER_SEC), 1.0)
                dev_index = 0.0 if dev_index * 365 / days <= self._max_basis else band * 2
            if dev_last > band or dev_index > band or s.bid > s.ask:
                return RuleHit(
                    self.rule_id,
                    DenyCode.PRICE_SANITY,
                    0.0,
                    {
                        "instrument": leg.instrument.id,
                        "mark": s.mark,
                        "index": s.index,
                        "last": s.last,
                        "bid": s.bid,
                        "ask": s.ask,
                        "band_pct": band,
                    },
                )
        return None


class SpreadVolGate:
    """Entries refused when the quoted spread or short-horizon volatility is extreme."""

    rule_id = RuleId.G6
    relative = False

    def __init__(self, cfg: G6Config) -> None:
        self._max_spread = cfg.max_spread_bps
        self._max_vol = cfg.max_short_vol

    def check(self, ctx: CheckContext) -> RuleHit | None:
        for leg in ctx.legs:
            s = leg.snapshot
            spread_bps = (s.ask - s.bid) / s.mid * 1e4
            if spread_bps > self._max_spread:
                return RuleHit(
                    self.rule_id,
                    DenyCode.SPREAD_TOO_WIDE,
                    0.0,
                    {"instrument": leg.instrument.id, "spread_bps": spread_bps, "max_spread_bps": self._max_spread},
                )
            short_vol = ctx.tick.short_vol(leg.instrument.id)
            if short_vol is not None and short_vol > self._max_vol:
                return RuleHit(
                    self.rule_id,
                    DenyCode.VOLATILITY_GATE,
                    0.0,
                    {"instrument": leg.instrument.id, "short_vol": short_vol, "max_short_vol": self._max_vol},
                )
        return None


class StoreHealth:
    """No entry while the store cannot write orders ahead (fail closed); risk reduction is not held back."""

    rule_id = RuleId.G6
    relative = False

    def check(self, ctx: CheckContext) -> RuleHit | None:
        if ctx.account.store_ok:
            return None
        return RuleHit(self.rule_id, DenyCode.STORE_DOWN, 0.0, {"store_ok": 0})
