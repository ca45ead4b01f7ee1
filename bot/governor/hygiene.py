"""G6 execution hygiene (first cut): stale snapshots and insane prices block entries (fail closed)."""

from __future__ import annotations

from bot.domain import NS_PER_SEC, DenyCode, RuleHit
from bot.governor.context import CheckContext
from bot.governor.rules_config import G6Config


class Staleness:
    rule_id = "G6"
    entry_only = True

    def __init__(self, cfg: G6Config) -> None:
        self._max_age_ns = int(cfg.max_snapshot_age_secs * NS_PER_SEC)
        self._max_age_secs = cfg.max_snapshot_age_secs

    def check(self, ctx: CheckContext) -> RuleHit | None:
        for leg in ctx.legs:
            age = ctx.now_ns - leg.snapshot.ts_ns
            if age > self._max_age_ns:
                return RuleHit(self.rule_id, DenyCode.STALE_SNAPSHOT, 0.0, {
                    "instrument": leg.instrument.id, "age_secs": age / NS_PER_SEC,
                    "max_age_secs": self._max_age_secs})
        return None


class PriceSanity:
    rule_id = "G6"
    entry_only = True

    def __init__(self, cfg: G6Config) -> None:
        self._band = cfg.price_band_pct

    def check(self, ctx: CheckContext) -> RuleHit | None:
        band = self._band
        for leg in ctx.legs:
            s = leg.snapshot
            dev_last = abs(s.last / s.mark - 1.0)
            dev_index = abs(s.mark / s.index - 1.0) if s.index else 0.0
            crossed = s.bid > s.ask
            if dev_last > band or dev_index > band or crossed:
                return RuleHit(self.rule_id, DenyCode.PRICE_SANITY, 0.0, {
                    "instrument": leg.instrument.id, "mark": s.mark, "index": s.index, "last": s.last,
                    "bid": s.bid, "ask": s.ask, "band_pct": band})
        return None
