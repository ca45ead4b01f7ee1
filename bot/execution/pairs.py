"""Leg-safe execution of two-leg entries (SPEC G9, executor side).

A two-leg entry is one unit with explicit states: pending → partially hedged → hedged → closing → closed. The less
liquid leg (spot before dated future before perpetual) goes first, as the governor approved it (post-only by
default). Each fill of that *lead* leg releases a *hedge* child order for the filled quantity on the other leg — same
decision, never more than the approved quantity — post-only at the current passive touch when the approved hedge leg
was post-only, marketable otherwise; children never add up to more than the approved quantity. A hedge that does not
fill within ``leg_timeout`` is the governor's to complete (marketable) or unwind: the executor reports the gap
(``HedgeGap``) in the account view, and either action passes the governor as its own intent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from bot.decisions import Decision, HedgeGap
from bot.domain import ZERO, Fill, Instrument, MarketSnapshot, Order, OrderType, Side, to_decimal


class PairState(StrEnum):
    PENDING = "pending"
    PARTIALLY_HEDGED = "partially_hedged"
    HEDGED = "hedged"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class PairTrack:
    decision_id: str
    lead: Order
    hedge: Order
    state: PairState = PairState.PENDING
    lead_filled: Decimal = ZERO
    lead_cost: Decimal = ZERO
    hedge_sent: Decimal = ZERO
    hedge_filled: Decimal = ZERO
    children: int = 0
    child_ids: set[str] = field(default_factory=set)
    gap_since_ns: int | None = None  # when the lead last got ahead of the hedge (simulated or venue time)

    @property
    def gap(self) -> Decimal:
        return self.lead_filled - self.hedge_filled


class PairBook:
    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._inst = instruments
        self.pairs: dict[str, PairTrack] = {}  # by decision id
        self._by_order: dict[str, PairTrack] = {}
        self.transitions: Counter[str] = Counter()
        self.unhedged_secs: list[float] = []  # each closed interval a lead stood ahead of its hedge, by fill times

    def open(self, decision: Decision) -> Order:
        """Register a two-leg entry; return the order to send now (the lead leg)."""
        a, b = decision.orders
        ra, rb = (self._inst[o.instrument_id].liquidity_rank for o in (a, b))
        lead, hedge = (b, a) if rb < ra else (a, b)
        track = PairTrack(decision.decision_id, lead, hedge)
        self.pairs[decision.decision_id] = track
        self._by_order[lead.client_order_id] = track
        self.transitions[PairState.PENDING] += 1
        return lead

    def on_fill(self, fill: Fill, market: Mapping[str, MarketSnapshot], now_ns: int) -> list[Order]:
        """Account a fill; return hedge child orders to send."""
        track = self._by_order.get(fill.client_order_id)
        if track is None:
            return []
        traded = fill.traded_qty  # the order's fill: a hedge matches what traded, not the venue's fee in the coin
        if fill.client_order_id == track.lead.client_order_id:
            track.lead_filled += traded
            track.lead_cost += traded * fill.price
        else:
            track.hedge_filled += traded
        if track.gap > 0 and track.gap_since_ns is None:
            track.gap_since_ns = fill.ts_ns
        elif track.gap <= 0 and track.gap_since_ns is not None:
            self.unhedged_secs.append((fill.ts_ns - track.gap_since_ns) / 1e9)
            track.gap_since_ns = None
        self._restate(track)
        want = track.lead_filled - track.hedge_sent
        inst = self._inst[track.hedge.instrument_id]
        qty = inst.round_qty(min(want, track.hedge.qty - track.hedge_sent))
        if qty < inst.min_qty:
            return []
        snap = market[track.hedge.instrument_id]
        tmpl = track.hedge
        lead = fill.client_order_id == track.lead.client_order_id
        hedge_of = fill.key if lead else None
        # a lead that filled inside a coarse bar is hedged at that moment: the hedge instrument's price scaled by
        # the lead's fill over its current mid (the pair's own relative price; the paper venue fills it there)
        scale = 1.0
        lead_snap = market.get(track.lead.instrument_id)
        if lead and fill.intrabar and lead_snap is not None and lead_snap.mid > 0:
            scale = float(fill.price) / lead_snap.mid
        track.children += 1
        cid = f"{tmpl.client_order_id}h{track.children}"
        if tmpl.order_type is OrderType.LIMIT and tmpl.post_only:
            limit = to_decimal(snap.bid if tmpl.side is Side.BUY else snap.ask)
            child = replace(
                tmpl,
                client_order_id=cid,
                qty=qty,
                limit_price=limit,
                ts_created_ns=now_ns,
                ref_mid=snap.mid,
                ref_touch=float(limit),
                hedge_of=hedge_of,
            )
        else:
            child = replace(
                tmpl,
                client_order_id=cid,
                qty=qty,
                order_type=OrderType.MARKET,
                limit_price=None,
                post_only=False,
                ts_created_ns=now_ns,
                ref_mid=snap.mid * scale,
                ref_touch=snap.touch(tmpl.side) * scale,
                hedge_of=hedge_of,
            )
        track.hedge_sent += qty
        track.child_ids.add(cid)
        self._by_order[cid] = track
        return [child]

    def _restate(self, t: PairTrack) -> None:
        new = t.state
        if t.state in (PairState.PENDING, PairState.PARTIALLY_HEDGED, PairState.HEDGED):
            new = (
                PairState.HEDGED
                if t.lead_filled > 0 and t.gap == 0
                else (PairState.PARTIALLY_HEDGED if t.lead_filled > 0 else PairState.PENDING)
            )
        if new is not t.state:
            t.state = new
            self.transitions[new] += 1

    def refresh(self, positions: Mapping[str, Decimal]) -> None:
        """Close pairs whose instruments are flat; mark those being unwound as closing."""
        for t in list(self.pairs.values()):
            lead_q = positions.get(t.lead.instrument_id, ZERO)
            hedge_q = positions.get(t.hedge.instrument_id, ZERO)
            if t.state is PairState.PENDING:
                continue
            if lead_q == 0 and hedge_q == 0:
                t.state = PairState.CLOSED
                self.transitions[PairState.CLOSED] += 1
                del self.pairs[t.decision_id]
            elif t.state is PairState.HEDGED and (abs(lead_q) < t.lead_filled or abs(hedge_q) < t.hedge_filled):
                t.state = PairState.CLOSING
                self.transitions[PairState.CLOSING] += 1

    def drop_unfilled(self, decision_id: str) -> None:
        """A pair whose lead never filled (cancelled or rejected) is forgotten."""
        t = self.pairs.get(decision_id)
        if t is not None and t.lead_filled == 0:
            del self.pairs[decision_id]

    def gaps(self) -> dict[str, HedgeGap]:
        """Per base asset, the largest open gap between a lead leg and its hedge."""
        out: dict[str, HedgeGap] = {}
        for t in self.pairs.values():
            if t.gap <= 0 or t.state is not PairState.PARTIALLY_HEDGED:
                continue
            base = self._inst[t.hedge.instrument_id].base
            gap = HedgeGap(t.hedge.instrument_id, t.hedge.side, float(t.gap), float(t.lead_cost / t.lead_filled))
            if base not in out or gap.qty > out[base].qty:
                out[base] = gap
        return out

    def counts(self) -> dict[str, int]:
        return dict(Counter(t.state.value for t in self.pairs.values()))

    def records(self, now_ns: int) -> list[dict[str, object]]:
        """The pairs as the store keeps them (each tick's commit): the one two-leg entries resume from."""
        return [
            {
                "decision_id": t.decision_id,
                "lead_order_id": t.lead.client_order_id,
                "hedge_instrument_id": t.hedge.instrument_id,
                "state": t.state.value,
                "lead_filled": t.lead_filled,
                "hedge_filled": t.hedge_filled,
                "ts_ns": now_ns,
            }
            for t in self.pairs.values()
        ]
