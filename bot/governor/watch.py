"""What the governor does on each tick besides the state machine: the pieces ``Governor.on_tick`` composes —
positions grouped by base asset, distance to liquidation, front-month open-interest share, the G3 ladder's action for
a stage, and G9's choice between completing a lone leg and unwinding it. Pure functions of their inputs (the one
exception, ``completed``, is the caller's set of bases already given a completion in this unhedged episode)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.decisions import DenyCode, LadderEvent
from bot.domain import Instrument, MarketSnapshot, OrderIntent, Side
from bot.governor.actions import ActionFactory
from bot.governor.context import AccountView
from bot.governor.rules_config import G3Config, G9Config

Legs = list[tuple[str, float]]  # (instrument id, signed quantity)


def group_by_base(positions: Mapping[str, float], instruments: Mapping[str, Instrument]) -> dict[str, Legs]:
    out: dict[str, Legs] = {}
    for iid, q in positions.items():
        inst = instruments.get(iid)
        if inst is not None and q:
            out.setdefault(inst.base, []).append((iid, q))
    return out


def unhedged_by_base(
    positions: Mapping[str, float], instruments: Mapping[str, Instrument], mark_of: Callable[[str], float]
) -> dict[str, float]:
    """Delta left on each base: |net base units| at the highest mark among its legs (what G9 measures; the executor
    and the metrics report the same number)."""
    net: dict[str, list[float]] = {}
    for iid, q in positions.items():
        inst = instruments.get(iid)
        if inst is None or not q:
            continue
        acc = net.setdefault(inst.base, [0.0, 0.0])
        acc[0] += q
        acc[1] = max(acc[1], mark_of(iid))
    return {base: abs(q) * px for base, (q, px) in net.items()}


def liq_distance(legs: Legs, account: AccountView, market: Mapping[str, MarketSnapshot]) -> float | None:
    """The nearest liquidation among the legs, as a share of the mark (None without leveraged legs)."""
    dists = [
        abs(market[iid].mark - liq) / market[iid].mark
        for iid, _ in legs
        if (liq := account.liq_prices.get(iid)) is not None and iid in market
    ]
    return min(dists) if dists else None


def front_month_oi_share(futures: list[Instrument], market: Mapping[str, MarketSnapshot], now_ns: int) -> float | None:
    """Share of dated-futures open interest in the front month (None without futures OI in the feed)."""
    if not futures:
        return None
    by_base: dict[str, list[tuple[int, float]]] = {}
    for inst in futures:
        s = market.get(inst.id)
        if s is None or s.open_interest is None or inst.ts_expiry_ns is None or inst.ts_expiry_ns <= now_ns:
            continue
        by_base.setdefault(inst.base, []).append((inst.ts_expiry_ns, s.open_interest))
    shares = [min(v)[1] / total for v in by_base.values() if (total := sum(oi for _, oi in v)) > 0]
    return max(shares) if shares else None


def ladder_action(
    actions: ActionFactory,
    cfg: G3Config,
    ev: LadderEvent,
    legs: Legs,
    market: Mapping[str, MarketSnapshot],
    now_ns: int,
) -> OrderIntent | None:
    """Stage 1 trims every leg, stage 2 neutralises residual delta, stage 3 closes."""
    if not legs:
        return None
    reason = f"G3 {ev.key} {ev.measure}={ev.value:.4f} stage {ev.to_stage}"
    if ev.to_stage >= 3:
        return actions.close(legs, now_ns, reason, tag="derisk")
    if ev.to_stage == 2:
        return actions.neutralise(legs, {i: market[i].mark for i, _ in legs}, cfg.min_hedge_usd, now_ns, reason)
    return actions.trim(legs, cfg.trim_pct, now_ns, reason)


def complete_or_unwind(
    actions: ActionFactory,
    cfg: G9Config,
    completed: set[str],
    base: str,
    legs: Legs,
    account: AccountView,
    market: Mapping[str, MarketSnapshot],
    unhedged: float,
    now_ns: int,
) -> tuple[OrderIntent | None, OrderIntent | None]:
    """G9's choice for delta left unhedged past ``leg_timeout``: complete the pair with a marketable order while the
    price is still near the lead leg's fill — with the unwind as the fallback if the completion does not fill —
    else unwind the lead leg. Returns (intent, fallback)."""
    gap = account.hedge_gaps.get(base)
    net = sum(q for _, q in legs)
    unwind = actions.neutralise(
        legs,
        {i: market[i].mark for i, _ in legs},
        0.0,
        now_ns,
        f"G9 {DenyCode.LEG_TIMEOUT} unhedged {unhedged:.2f} USD",
        tag="unwind",
    )
    if gap is not None and gap.instrument_id in market and base not in completed:
        move = abs(market[gap.instrument_id].mark / gap.lead_price - 1.0)
        completes = (gap.side is Side.BUY) == (net < 0)
        if completes and move <= cfg.max_completion_move_pct:
            qty = min(gap.qty, abs(net))
            why = f"G9 {DenyCode.LEG_TIMEOUT} complete {qty} after {unhedged:.2f} USD unhedged, move {move:.4f}"
            intent = actions.complete(gap.instrument_id, gap.side, qty, now_ns, why)
            if intent is not None:
                completed.add(base)  # one completion per episode; if it does not take, unwind
                return intent, unwind
    return unwind, None
