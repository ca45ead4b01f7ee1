"""What kind of intent this is, for the door: does it reduce risk, and does the trading state let it pass (G8)?

Labels are not trusted: an intent is risk-reducing only if every leg shrinks a position without flipping it, or it is
the governor's own hedge that shrinks a base asset's net delta.
"""

from __future__ import annotations

from bot.decisions import DenyCode, RuleHit, RuleId, TradingState
from bot.domain import OrderIntent, Origin
from bot.governor.context import AccountView, PricedLeg


def shrinks(pos: float, pl: PricedLeg) -> bool:
    """The leg reduces an existing position without flipping it (labels alone are not trusted)."""
    return pos * pl.signed_qty < 0 and abs(pl.signed_qty) <= abs(pos) * (1 + 1e-12)


def hedges(account: AccountView, legs: list[PricedLeg]) -> bool:
    """A governor completion: every leg on one base, and the base's net delta shrinks without flipping."""
    base = legs[0].instrument.base
    if any(pl.instrument.base != base for pl in legs):
        return False
    net = account.net_by_base.get(base, 0.0)
    after = net + sum(pl.signed_qty * pl.snapshot.mark for pl in legs)
    return abs(after) < abs(net) and after * net >= 0


def state_gate(state: TradingState, intent: OrderIntent, reducing: bool) -> RuleHit | None:
    if state is TradingState.HALTED:
        if intent.flatten and intent.origin in (Origin.GOVERNOR, Origin.OPERATOR) and reducing:
            return None
        return RuleHit(
            RuleId.G8,
            DenyCode.STATE_HALTED,
            0.0,
            {"state": state.value, "origin": intent.origin.value, "flatten": int(intent.flatten)},
        )
    if state is TradingState.REDUCING and not reducing:
        return RuleHit(RuleId.G8, DenyCode.STATE_REDUCING, 0.0, {"state": state.value, "purpose": intent.purpose.value})
    return None
