"""Risk-reducing intents the governor issues on its own: trim, hedge (neutralise delta), close.

They are built here and then pass through ``Governor.decide`` like any other intent (one door).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from bot.domain import Instrument, IntentLeg, OrderIntent, Origin, Purpose, Side


class ActionFactory:
    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._inst = instruments
        self._seq = 0
        self._seq_ts = -1

    def _intent(
        self,
        tag: str,
        legs: list[IntentLeg],
        now_ns: int,
        reason: str,
        flatten: bool = False,
        origin: Origin = Origin.GOVERNOR,
    ) -> OrderIntent | None:
        if not legs:
            return None
        if now_ns != self._seq_ts:  # numbered within the tick: the same tick yields the same ids after a restart
            self._seq_ts, self._seq = now_ns, 0
        self._seq += 1
        return OrderIntent(
            f"gov-{tag}-{now_ns // 1_000_000}-{self._seq}",
            origin,
            "governor",
            Purpose.RISK_REDUCE,
            tuple(legs),
            now_ns,
            reason=reason,
            flatten=flatten,
        )

    def _leg(self, iid: str, qty: float, fraction: float = 1.0) -> IntentLeg | None:
        inst = self._inst.get(iid)
        if inst is None or qty == 0:
            return None
        size = inst.round_qty(Decimal(repr(abs(qty))) * Decimal(repr(fraction)))
        if size < inst.min_qty:
            return None
        return IntentLeg(iid, Side.SELL if qty > 0 else Side.BUY, size, reduce_only=True)

    def close(
        self,
        positions: Iterable[tuple[str, float]],
        now_ns: int,
        reason: str,
        tag: str = "close",
        flatten: bool = False,
        origin: Origin = Origin.GOVERNOR,
    ) -> OrderIntent | None:
        legs = [leg for iid, q in sorted(positions) if (leg := self._leg(iid, q)) is not None]
        return self._intent(tag, legs, now_ns, reason, flatten, origin)

    def trim(
        self, positions: Iterable[tuple[str, float]], fraction: float, now_ns: int, reason: str
    ) -> OrderIntent | None:
        legs = [leg for iid, q in sorted(positions) if (leg := self._leg(iid, q, fraction)) is not None]
        return self._intent("trim", legs, now_ns, reason)

    def complete(self, iid: str, side: Side, qty: float, now_ns: int, reason: str) -> OrderIntent | None:
        """The missing leg of a pair, as a marketable order (it adds to one leg but removes delta)."""
        inst = self._inst.get(iid)
        if inst is None:
            return None
        size = inst.round_qty(Decimal(repr(qty)))
        if size < inst.min_qty:
            return None
        return self._intent("complete", [IntentLeg(iid, side, size)], now_ns, reason)

    def neutralise(
        self,
        positions: Iterable[tuple[str, float]],
        marks: Mapping[str, float],
        min_usd: float,
        now_ns: int,
        reason: str,
        tag: str = "hedge",
    ) -> OrderIntent | None:
        """Reduce the legs on the side of the residual delta until the delta is gone (never adds exposure)."""
        pos = sorted(positions)
        net = sum(q for _, q in pos)
        if not pos or abs(net) * max(marks.get(i, 0.0) for i, _ in pos) < min_usd:
            return None
        # take from the most unbalanced venue first: a lone leg on one venue is the one to unwind, not another
        # venue's hedged pair (cross-venue books balance across venues and are reduced by size)
        venue_net: dict[str, float] = {}
        for iid, q in pos:
            v = self._inst[iid].venue
            venue_net[v] = venue_net.get(v, 0.0) + q
        sign = 1.0 if net > 0 else -1.0
        legs = []
        left = abs(net)
        for iid, q in sorted(pos, key=lambda p: (-venue_net[self._inst[p[0]].venue] * sign, -abs(p[1]), p[0])):
            if left <= 0 or (q > 0) != (net > 0):
                continue
            take = min(abs(q), left)
            leg = self._leg(iid, take if q > 0 else -take)
            if leg is not None:
                legs.append(leg)
                left -= float(leg.qty)
        return self._intent(tag, legs, now_ns, reason)
