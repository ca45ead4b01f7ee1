"""What an authenticated operator command does. Every order it causes is an operator intent that passes the governor
(one door); state changes are governor transitions, recorded and published like any other.

Arguments are checked before anything happens: a rejected command changes nothing. ``pause`` and ``reduce`` only
tighten (ACTIVE → REDUCING); HALTED is left only by an explicit ``resume``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bot.decisions import TradingState
from bot.domain import Origin
from bot.execution.executor import Executor
from bot.governor.rules_config import RulesError, load_rules
from bot.telemetry.commands import Command


class OperatorHandler:
    def __init__(self, executor: Executor, rules_file: Path | None) -> None:
        self.ex = executor
        self.rules_file = rules_file

    async def __call__(self, cmd: Command) -> dict[str, Any]:
        gov = self.ex.governor
        now = self.ex.clock.now_ns()
        allowed = {"reason", "fraction"} if cmd.cmd == "reduce" else {"reason"}  # reason: the operator's note
        if set(cmd.args) - allowed:
            return {"ok": False, "code": "bad_args", "unknown": sorted(set(cmd.args) - allowed)[:10]}
        if not isinstance(cmd.args.get("reason", ""), str) or len(cmd.args.get("reason", "")) > 200:
            return {"ok": False, "code": "bad_args", "field": "reason", "expected": "text of at most 200 characters"}
        if cmd.cmd == "status":
            return {
                "ok": True,
                "state": gov.trading_state.value,
                "equity": self.ex.account_view().equity,
                "ladders": dict(gov.ladders.snapshot()),
                "working_orders": len(self.ex.working),
            }
        if cmd.cmd in ("pause", "reduce"):  # no new entries; reduce also trims every position
            fraction = _fraction(cmd.args.get("fraction", 0.25)) if cmd.cmd == "reduce" else None
            if cmd.cmd == "reduce" and fraction is None:
                return {"ok": False, "code": "bad_args", "field": "fraction", "expected": "a number in (0, 1]"}
            if gov.trading_state is TradingState.ACTIVE:  # never loosens HALTED
                self._state(TradingState.REDUCING, now, cmd.cmd)
            if fraction is not None:
                acct = self.ex.account_view()
                intent = gov.actions.trim(sorted(acct.positions.items()), fraction, now, "operator reduce")
                if intent is not None:
                    self.ex.operator_intents.append(intent)
            return {"ok": True, "state": gov.trading_state.value}
        if cmd.cmd == "resume":
            self._state(TradingState.ACTIVE, now, "resume")
            return {"ok": True, "state": gov.trading_state.value}
        if cmd.cmd == "halt":
            self._state(TradingState.HALTED, now, "halt")
            await self.ex.cancel_all()
            return {"ok": True, "state": gov.trading_state.value}
        if cmd.cmd == "flatten":
            acct = self.ex.account_view()
            intents = gov.flatten_intents(acct, now, Origin.OPERATOR, "operator flatten")
            self.ex.operator_intents.extend(intents)
            return {"ok": True, "orders": len(intents)}
        if cmd.cmd == "reload-rules":
            try:
                gov.reload(load_rules(self.rules_file))
            except RulesError as exc:
                return {"ok": False, "code": "invalid_rules", "fields": [f for f, _ in exc.problems]}
            return {"ok": True}
        return {"ok": False, "code": "unknown_command"}

    def _state(self, to: TradingState, now: int, reason: str) -> None:
        self.ex.set_trading_state(to, "operator", reason)


def _fraction(value: object) -> float | None:
    """A trim fraction in (0, 1], or None: numbers only (not booleans, strings or lists), finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) and 0.0 < f <= 1.0 else None
