"""G8 trading state with G7's account-level limits as automatic transitions.

- Equity below ``(1 − max_daily_loss_pct)`` × start-of-UTC-day equity → REDUCING until the next UTC day.
- Equity below ``(1 − max_drawdown_pct)`` × peak equity → HALTED until an operator resumes.
States only tighten automatically; the daily-loss REDUCING lifts itself at the next UTC day, HALTED never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.decisions import DenyCode, RuleId, StateTransition, TradingState
from bot.domain import NS_PER_SEC
from bot.governor.rules_config import G7Config

_DAY_NS = 86_400 * NS_PER_SEC
_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(slots=True)
class GovernorState:
    trading_state: TradingState = TradingState.ACTIVE
    cause: DenyCode | None = None  # what set the current non-ACTIVE state
    peak_equity: float = 0.0
    day: int = -1
    day_start_equity: float = 0.0
    transitions: list[StateTransition] = field(default_factory=list)


def _move(
    st: GovernorState,
    to: TradingState,
    now_ns: int,
    rule: str,
    code: DenyCode | None,
    inputs: dict[str, float | int | str | None],
) -> StateTransition:
    tr = StateTransition(now_ns, st.trading_state, to, rule, code, inputs)
    st.trading_state = to
    st.cause = code
    st.transitions.append(tr)
    return tr


def update_state(st: GovernorState, equity: float, now_ns: int, cfg: G7Config) -> StateTransition | None:
    """Advance the state machine on a new equity reading; returns the transition made, if any."""
    day = now_ns // _DAY_NS
    transition: StateTransition | None = None
    if day != st.day:
        st.day = day
        st.day_start_equity = equity
        if st.trading_state is TradingState.REDUCING and st.cause is DenyCode.DAILY_LOSS_LIMIT:
            transition = _move(st, TradingState.ACTIVE, now_ns, RuleId.G7, None, {"reason": "new_utc_day"})
    if equity > st.peak_equity:
        st.peak_equity = equity
    if st.trading_state is TradingState.HALTED:
        return transition
    drawdown = 1.0 - equity / st.peak_equity if st.peak_equity > 0 else 0.0
    if drawdown >= cfg.max_drawdown_pct:
        return _move(
            st,
            TradingState.HALTED,
            now_ns,
            RuleId.G7,
            DenyCode.MAX_DRAWDOWN,
            {
                "equity_usd": equity,
                "peak_equity_usd": st.peak_equity,
                "drawdown_pct": drawdown,
                "limit_pct": cfg.max_drawdown_pct,
            },
        )
    if st.trading_state is TradingState.ACTIVE and st.day_start_equity > 0:
        loss = 1.0 - equity / st.day_start_equity
        if loss >= cfg.max_daily_loss_pct:
            return _move(
                st,
                TradingState.REDUCING,
                now_ns,
                RuleId.G7,
                DenyCode.DAILY_LOSS_LIMIT,
                {
                    "equity_usd": equity,
                    "day_start_equity_usd": st.day_start_equity,
                    "loss_pct": loss,
                    "limit_pct": cfg.max_daily_loss_pct,
                },
            )
    return transition


def set_state(st: GovernorState, to: TradingState, now_ns: int, origin: str, reason: str) -> StateTransition | None:
    """An operator's (or rule's) explicit state change; every change is recorded."""
    if to is st.trading_state:
        return None
    return _move(st, to, now_ns, origin, None, {"reason": reason})


def tightens(a: TradingState, b: TradingState) -> bool:
    return _RANK[b] > _RANK[a]
