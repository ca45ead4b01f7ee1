"""G5 crowding checklist: five signals, each a caution or not (or unavailable).

1. funding punitive: |8h-equivalent funding| ≥ 0.05% ("extreme");
2. open interest rising while price falls;
3. repeated long-liquidation clusters;
4. options skew steepening (downside premium);
5. lower lows with fast breaks.

Two or more cautions halve an entry; three or more refuse it. Price falling while open interest stays elevated and
funding does not reset is the *reduce* condition that feeds the G3 crowding measure.
"""

from __future__ import annotations

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.governor.context import CheckContext, CrowdingRead
from bot.governor.rules_config import G5Config, SignalsConfig
from bot.governor.signals import Signals

_NAMES = ("funding", "oi_vs_price", "liquidations", "skew", "structure")


def checklist(cfg: G5Config, sig_cfg: SignalsConfig, sig: Signals | None) -> CrowdingRead:
    """The five checks for one instrument. An unavailable signal counts as a caution only where the rules say so."""
    if sig is None:
        values: tuple[bool | None, ...] = (None,) * 5
        reduce = False
    else:
        pc, fund = sig.price_change, sig.funding_8h
        values = (
            None if fund is None else abs(fund) >= cfg.punitive_funding_8h,
            None
            if sig.oi_change is None or pc is None
            else (sig.oi_change >= cfg.oi_rise_pct and pc <= -cfg.price_fall_pct),
            None if sig.liq_clusters is None else sig.liq_clusters >= cfg.liq_cluster_count,
            None if sig.skew_change is None else sig.skew_change >= cfg.skew_steepening,
            sig.lower_lows_fast,
        )
        reduce = (
            pc is not None
            and pc <= -cfg.price_fall_pct
            and sig.oi_elevated is not None
            and sig.oi_elevated >= cfg.reduce_oi_elevated_pct
            and fund is not None
            and abs(fund) >= cfg.punitive_funding_8h / 2
        )
    counts = sig_cfg.unavailable_is_caution
    cautions = tuple(n for n, v in zip(_NAMES, values, strict=True) if v or (v is None and counts.get(n, False)))  # type: ignore[call-overload]  # Literal keys
    unavailable = tuple(n for n, v in zip(_NAMES, values, strict=True) if v is None)
    return CrowdingRead(cautions, unavailable, reduce)


class CrowdingRule:
    rule_id = RuleId.G5
    relative = True

    def __init__(self, cfg: G5Config) -> None:
        self.cfg = cfg

    def check(self, ctx: CheckContext) -> RuleHit | None:
        worst = max((ctx.tick.crowding(leg.instrument.id) for leg in ctx.legs), key=lambda r: r.n_fired)
        n = worst.n_fired
        if n < self.cfg.half_size_at:
            return None
        inputs: dict[str, float | int | str | None] = {
            "cautions": n,
            "fired": ",".join(worst.cautions),
            "unavailable": ",".join(worst.unavailable),
        }
        if n >= self.cfg.no_entry_at:
            return RuleHit(self.rule_id, DenyCode.CROWDING_NO_ENTRY, 0.0, inputs)
        return RuleHit(self.rule_id, DenyCode.CROWDING_HALF, 0.5, inputs)
