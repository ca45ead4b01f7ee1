"""The governor engine: the only place an ``OrderIntent`` becomes ``Order``s (SPEC §3, "one door").

``decide`` is a deterministic function of (intent, account view, market, now, governor state): no I/O, no
clock reads. There is no bypass: risk-reducing intents go through here too; entry-only rules skip them, and the
trading state decides what may pass (REDUCING: only risk-reducing; HALTED: only governor/operator flatten).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from bot.domain import (
    Decision, DenyCode, Instrument, MarketSnapshot, Order, OrderIntent, Origin, Outcome, Purpose, RuleHit, Side,
    StateTransition, TradingState, IntentLeg,
)
from bot.governor.audit import AuditSink, MemoryAudit
from bot.governor.context import AccountView, CheckContext, PricedLeg, Rule
from bot.governor.hygiene import PriceSanity, Staleness
from bot.governor.limits import MaxGrossExposure, MaxOrderNotional
from bot.governor.rules_config import RulesConfig
from bot.governor.state import GovernorState, set_state, update_state


def default_rules(cfg: RulesConfig) -> tuple[Rule, ...]:
    """The rule set, in evaluation order (cheap fail-closed checks first)."""
    return (Staleness(cfg.g6), PriceSanity(cfg.g6), MaxOrderNotional(cfg.g7), MaxGrossExposure(cfg.g7))


class Governor:
    def __init__(self, cfg: RulesConfig, instruments: Mapping[str, Instrument], audit: AuditSink | None = None,
                 rules: Sequence[Rule] | None = None) -> None:
        self.cfg = cfg
        self.instruments = instruments
        self.audit: AuditSink = audit if audit is not None else MemoryAudit()
        self.rules = tuple(rules) if rules is not None else default_rules(cfg)
        self.state = GovernorState()
        self._flatten_seq = 0

    @property
    def trading_state(self) -> TradingState:
        return self.state.trading_state

    # --- per tick -------------------------------------------------------------------------------------------------
    def on_tick(self, account: AccountView, now_ns: int) -> tuple[StateTransition | None, list[OrderIntent]]:
        """Update the trading state from the account; return the transition and the governor's own risk intents."""
        tr = update_state(self.state, account.equity, now_ns, self.cfg.g7)
        if tr is not None:
            self.audit.transition(tr)
        intents: list[OrderIntent] = []
        if tr is not None and tr.to_state is TradingState.HALTED and self.cfg.g8.flatten_on_halt:
            intents = self.flatten_intents(account, now_ns, Origin.GOVERNOR, f"halted:{tr.code}")
        return tr, intents

    def set_state(self, to: TradingState, now_ns: int, origin: str, reason: str) -> StateTransition | None:
        tr = set_state(self.state, to, now_ns, origin, reason)
        if tr is not None:
            self.audit.transition(tr)
        return tr

    def flatten_intents(self, account: AccountView, now_ns: int, origin: Origin, reason: str) -> list[OrderIntent]:
        """One market close per open position (governor- or operator-issued flatten)."""
        out = []
        for iid, qty in sorted(account.positions.items()):
            inst = self.instruments.get(iid)
            if inst is None or qty == 0:
                continue
            size = inst.round_qty(abs(Decimal(repr(qty))))
            if size <= 0:
                continue
            self._flatten_seq += 1
            side = Side.SELL if qty > 0 else Side.BUY
            out.append(OrderIntent(f"flat-{now_ns // 1_000_000_000}-{self._flatten_seq}", origin, "governor",
                                   Purpose.RISK_REDUCE, (IntentLeg(iid, side, size, reduce_only=True),), now_ns,
                                   reason=reason, flatten=True))
        return out

    # --- per intent ----------------------------------------------------------------------------------------------
    def decide(self, intent: OrderIntent, account: AccountView, market: Mapping[str, MarketSnapshot],
               now_ns: int) -> Decision:
        state = self.state.trading_state
        legs: list[PricedLeg] = []
        for leg in intent.legs:
            inst = self.instruments.get(leg.instrument_id)
            snap = market.get(leg.instrument_id)
            if inst is None or snap is None:
                code = DenyCode.UNKNOWN_INSTRUMENT if inst is None else DenyCode.NO_SNAPSHOT
                hit = RuleHit("G6", code, 0.0, {"instrument": leg.instrument_id})
                return self._finish(intent, Outcome.REJECT, 0.0, (hit,), (), state, False, now_ns)
            q = float(leg.qty)
            legs.append(PricedLeg(inst, snap, q if leg.side is Side.BUY else -q, q * snap.mark))
        reducing = intent.purpose is not Purpose.ENTRY and _reduces(legs, account.positions)

        gate = _state_gate(state, intent, reducing)
        if gate is not None:
            return self._finish(intent, Outcome.REJECT, 0.0, (gate,), (), state, reducing, now_ns)

        added: dict[str, float] = {}
        for pl in legs:
            pos = account.positions.get(pl.instrument.id, 0.0)
            delta = (abs(pos + pl.signed_qty) - abs(pos)) * pl.snapshot.mark
            added[pl.instrument.venue] = added.get(pl.instrument.venue, 0.0) + delta
        ctx = CheckContext(intent, tuple(legs), account, now_ns, added, sum(added.values()))

        hits: list[RuleHit] = []
        scale = 1.0
        for rule in self.rules:
            if reducing and rule.entry_only:
                continue
            hit = rule.check(ctx)
            if hit is not None:
                hits.append(hit)
                if hit.max_scale < scale:
                    scale = hit.max_scale
                if scale <= 0.0:
                    break  # fail fast: nothing can undo a denial
        if scale <= 0.0:
            return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
        if scale < 1.0 and scale < self.cfg.g7.min_resize_scale:
            hits.append(RuleHit("G7", DenyCode.BELOW_MIN_SIZE, 0.0,
                                {"scale": scale, "min_scale": self.cfg.g7.min_resize_scale}))
            return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)

        orders = self._orders(intent, legs, scale, now_ns)
        if orders is None:
            hits.append(RuleHit("G7", DenyCode.BELOW_MIN_SIZE, 0.0, {"scale": scale}))
            return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
        outcome = Outcome.RESIZE if scale < 1.0 else Outcome.APPROVE
        return self._finish(intent, outcome, scale, tuple(hits), orders, state, reducing, now_ns)

    def _orders(self, intent: OrderIntent, legs: list[PricedLeg], scale: float,
                now_ns: int) -> tuple[Order, ...] | None:
        dscale = Decimal(repr(scale)) if scale < 1.0 else None
        orders = []
        for i, (leg, pl) in enumerate(zip(intent.legs, legs, strict=True)):
            qty = leg.qty if dscale is None else pl.instrument.round_qty(leg.qty * dscale)
            if qty < pl.instrument.min_qty:
                return None
            s = pl.snapshot
            orders.append(Order(
                client_order_id=f"{intent.intent_id}-{i}", intent_id=intent.intent_id,
                decision_id=f"d-{intent.intent_id}", instrument_id=leg.instrument_id, side=leg.side, qty=qty,
                order_type=leg.order_type, purpose=intent.purpose, ts_created_ns=now_ns, limit_price=leg.limit_price,
                post_only=leg.post_only, reduce_only=leg.reduce_only, leverage=leg.leverage, ref_mid=s.mid,
                ref_touch=s.touch(leg.side)))
        return tuple(orders)

    def _finish(self, intent: OrderIntent, outcome: Outcome, scale: float, hits: tuple[RuleHit, ...],
                orders: tuple[Order, ...], state: TradingState, reducing: bool, now_ns: int) -> Decision:
        d = Decision(f"d-{intent.intent_id}", intent, outcome, scale, hits, orders, state, reducing, now_ns)
        self.audit.decision(d)
        return d


def _reduces(legs: list[PricedLeg], positions: Mapping[str, float]) -> bool:
    """True when every leg shrinks an existing position without flipping it (labels alone are not trusted)."""
    for pl in legs:
        pos = positions.get(pl.instrument.id, 0.0)
        if pos == 0.0 or pos * pl.signed_qty >= 0 or abs(pl.signed_qty) > abs(pos) * (1 + 1e-12):
            return False
    return True


def _state_gate(state: TradingState, intent: OrderIntent, reducing: bool) -> RuleHit | None:
    if state is TradingState.HALTED:
        if intent.flatten and intent.origin in (Origin.GOVERNOR, Origin.OPERATOR) and reducing:
            return None
        return RuleHit("G8", DenyCode.STATE_HALTED, 0.0, {"state": state.value, "origin": intent.origin.value,
                                                          "flatten": int(intent.flatten)})
    if state is TradingState.REDUCING and not reducing:
        return RuleHit("G8", DenyCode.STATE_REDUCING, 0.0, {"state": state.value, "purpose": intent.purpose.value})
    return None
