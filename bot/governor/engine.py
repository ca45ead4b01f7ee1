"""The governor engine: the only place an ``OrderIntent`` becomes ``Order``s (SPEC §3, "one door").

``on_tick`` reads the market (signals, expiry phase), moves the trading state and the G3 ladders, checks leg risk (G9)
and expiring exposure (G4), and returns the governor's own risk-reducing intents. ``decide`` answers one intent. Both
are deterministic functions of their inputs and the governor's state: no I/O, no clock reads. There is no bypass:
risk-reducing intents go through ``decide`` too; entry-only rules skip them, and the trading state decides what may
pass (REDUCING: only risk-reducing; HALTED: only governor/operator flatten orders).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.decisions import (
    Decision,
    DenyCode,
    LadderEvent,
    Outcome,
    RuleHit,
    RuleId,
    StateTransition,
    TradingState,
    TransferDecision,
)
from bot.domain import (
    NS_PER_SEC,
    Instrument,
    InstrumentKind,
    MarketBatch,
    MarketSnapshot,
    Order,
    OrderIntent,
    OrderType,
    Origin,
    Purpose,
    Side,
    TransferIntent,
)
from bot.governor.actions import ActionFactory
from bot.governor.calendar import ExpiryCalendar
from bot.governor.context import AccountView, CheckContext, PricedLeg, Rule, TickReads
from bot.governor.crowding import checklist
from bot.governor.gates import EntryGates, entry_gates
from bot.governor.hygiene import PriceCollar
from bot.governor.intent_kind import hedges as _hedges
from bot.governor.intent_kind import shrinks as _shrinks
from bot.governor.intent_kind import state_gate as _state_gate
from bot.governor.ladder import ACCOUNT, Ladders
from bot.governor.leverage import leverage_from
from bot.governor.rules_config import RulesConfig
from bot.governor.ruleset import default_rules
from bot.governor.signals import EIGHT_HOURS, SignalTracker
from bot.governor.state import GovernorState, set_state, update_state
from bot.governor.transfers import decide_transfer
from bot.governor.venue_health import VenueHealthBook
from bot.governor.watch import (
    complete_or_unwind,
    front_month_oi_share,
    group_by_base,
    ladder_action,
    liq_distance,
    unhedged_by_base,
)

_MINUTE_NS = 60 * NS_PER_SEC
# enum member lookups are slow on hot paths
_BUY, _MARKET, _LIMIT, _ENTRY = Side.BUY, OrderType.MARKET, OrderType.LIMIT, Purpose.ENTRY


@dataclass(slots=True)
class TickResult:
    transition: StateTransition | None = None
    intents: list[OrderIntent] = field(default_factory=list)
    cancel_instruments: set[str] = field(default_factory=set)  # working orders there must be cancelled first
    ladder_events: list[LadderEvent] = field(default_factory=list)
    unhedged_usd: dict[str, float] = field(default_factory=dict)
    reads: TickReads | None = None  # what this tick read from the market: ``decide`` takes it for the tick's intents
    fallbacks: dict[str, OrderIntent] = field(default_factory=dict)  # intent id -> what to send if it does not fill


class Governor:
    def __init__(
        self,
        cfg: RulesConfig,
        instruments: Mapping[str, Instrument],
        rules: Sequence[Rule] | None = None,
        snapshot_step_secs: float = EIGHT_HOURS,
        client_id_prefix: str = "",
    ) -> None:
        self.cfg = cfg
        self.instruments = instruments
        self.client_id_prefix = client_id_prefix  # e.g. "r12-": client order ids unique per run, stable on restart
        self.state = GovernorState()
        self.ladders = Ladders()
        self.venue_health = VenueHealthBook()
        self.rules = tuple(rules) if rules is not None else default_rules(cfg, self.ladders, self.venue_health)
        self.signals = SignalTracker(cfg.signals, snapshot_step_secs, cfg.g5.liq_cluster_ratio)
        self.calendar = ExpiryCalendar(
            cfg.g4.calendars,
            blackout_hours=cfg.g4.blackout_hours,
            final_week_days=cfg.g4.final_week_days,
            discount_days=cfg.g4.funding_discount_days,
        )
        self.actions = ActionFactory(instruments)
        self.collar = PriceCollar(cfg.g6)
        self._futures = [i for i in instruments.values() if i.kind is InstrumentKind.FUTURE]
        self.unhedged_since: dict[str, int] = {}
        self._completed: set[str] = set()
        self._recent: deque[int] = deque()
        self._bind_reads()

    @property
    def trading_state(self) -> TradingState:
        return self.state.trading_state

    def _bind_reads(self) -> None:
        cfg = self.cfg  # the read functions are bound once per rules version
        # G1 reads three of an instrument's signals: they are taken without building the rest (a 500-perp scan asks
        # every perp's cap on every tick, for the strategies' standing gates)
        self._lev_fn: Callable[[str], Any] = lambda iid: leverage_from(cfg.g1, self.signals.leverage_inputs(iid))
        self._crowd_fn: Callable[[Any], Any] = lambda s: checklist(cfg.g5, cfg.signals, s)

    def reads_at(self, market: Mapping[str, MarketSnapshot], now_ns: int) -> TickReads:
        """What the rules read at ``now_ns``: signals, expiry phase, leverage and crowding functions, front-month
        open-interest share. A pure function of the governor's signal windows, the market and the time."""
        return TickReads(
            now_ns,
            self.signals.get,
            self.signals.short_vol,
            self.calendar.phase(now_ns),
            self._lev_fn,
            self._crowd_fn,
            front_month_oi_share(self._futures, market, now_ns),
        )

    # --- per tick -------------------------------------------------------------------------------------------------
    def observe(self, batch: MarketBatch) -> None:
        """Feed the signal windows (every snapshot, in time order)."""
        update = self.signals.update
        for s in batch.snapshots:
            update(s)

    def on_tick(self, account: AccountView, market: Mapping[str, MarketSnapshot], now_ns: int) -> TickResult:
        """Move state and ladders from the account and the market; return the governor's own risk intents."""
        cfg = self.cfg
        reads = self.reads_at(market, now_ns)
        res = TickResult(reads=reads)
        tr = update_state(self.state, account.equity, now_ns, cfg.g7)
        by_base = group_by_base(account.positions, self.instruments)

        # G3 ladders: the account on drawdown (bands wider in the final week), each position on liquidation
        # distance and crowding. Risk invalidation acts here, before any strategy sees the tick.
        widen = cfg.g4.final_week_band_widen if reads.phase.in_final_week else 1.0
        peak = self.state.peak_equity
        drawdown = 1.0 - account.equity / peak if peak > 0 else 0.0
        g3 = cfg.g3
        events: list[LadderEvent | None] = [
            self.ladders.update(ACCOUNT, "drawdown", drawdown, g3.drawdown, g3.hysteresis_pct, now_ns, widen)
        ]
        for key in self.ladders.keys() - set(by_base) - {ACCOUNT}:
            # flat: liquidation distance belonged to the position and goes with it; crowding belongs to the market
            # and holds (refusing re-entry) until it recovers past the hysteresis band (SPEC G3)
            events.extend(self.ladders.clear(key, now_ns, {"liq_distance"}))
            crowd = max(
                (
                    reads.crowding(iid)
                    for iid, inst in self.instruments.items()
                    if inst.base == key and inst.is_derivative and iid in market
                ),
                key=lambda r: r.n_fired + r.reduce,
                default=None,
            )
            events.append(
                self.ladders.update(
                    key,
                    "crowding",
                    None if crowd is None else float(crowd.n_fired + crowd.reduce),
                    g3.crowding,
                    g3.hysteresis_pct,
                    now_ns,
                )
            )
        for base, legs in by_base.items():
            events.append(
                self.ladders.update(
                    base,
                    "liq_distance",
                    liq_distance(legs, account, market),
                    g3.liq_distance,
                    g3.hysteresis_pct,
                    now_ns,
                )
            )
            # crowding acts on the leveraged legs (the spot legs of a base share the perps' market)
            crowd = max(
                (reads.crowding(iid) for iid, _ in legs if self.instruments[iid].is_derivative),
                key=lambda r: r.n_fired + r.reduce,
                default=None,
            )
            events.append(
                self.ladders.update(
                    base,
                    "crowding",
                    None if crowd is None else float(crowd.n_fired + crowd.reduce),
                    g3.crowding,
                    g3.hysteresis_pct,
                    now_ns,
                )
            )
        # one action per position per tick, the most severe: a trim (account drawdown) and a close (liquidation
        # distance) built from the same positions would otherwise over-close the position between them
        candidates: dict[str, list[LadderEvent]] = {}
        for ev in events:
            if ev is None:
                continue
            res.ladder_events.append(ev)
            if ev.to_stage > ev.from_stage:
                for base in list(by_base) if ev.key == ACCOUNT else [ev.key]:
                    if base in by_base:
                        candidates.setdefault(base, []).append(ev)
        for base, evs in candidates.items():
            legs_b = by_base[base]
            for ev in sorted(evs, key=lambda e: -e.to_stage):  # a stage with nothing to do gives way to the next
                intent = ladder_action(self.actions, cfg.g3, ev, legs_b, market, now_ns)
                if intent is not None:
                    res.cancel_instruments.update(i for i, _ in legs_b)
                    res.intents.append(intent)
                    break
        for ev in events:
            if ev is not None and ev.to_stage > ev.from_stage:
                if (
                    ev.key == ACCOUNT
                    and ev.to_stage == 3
                    and cfg.g8.reducing_on_account_derisk
                    and tr is None
                    and self.state.trading_state is TradingState.ACTIVE
                ):
                    tr = set_state(self.state, TradingState.REDUCING, now_ns, RuleId.G3, "account ladder stage 3")

        if tr is not None:
            res.transition = tr
            if tr.to_state is TradingState.HALTED and cfg.g8.flatten_on_halt:
                res.intents.extend(self.flatten_intents(account, now_ns, Origin.GOVERNOR, f"halted:{tr.code}"))

        # G9: delta left unhedged beyond leg_timeout is unwound (the working legs are cancelled first)
        res.unhedged_usd = unhedged_by_base(account.positions, self.instruments, lambda i: market[i].mark)
        for base, legs in by_base.items():
            unhedged = res.unhedged_usd[base]
            if unhedged <= cfg.g9.max_unhedged_usd:
                self.unhedged_since.pop(base, None)
                self._completed.discard(base)
                continue
            since = self.unhedged_since.setdefault(base, now_ns)
            if now_ns - since >= cfg.g9.leg_timeout_secs * NS_PER_SEC:
                intent, fallback = complete_or_unwind(
                    self.actions, cfg.g9, self._completed, base, legs, account, market, unhedged, now_ns
                )
                if intent is not None:
                    res.cancel_instruments.update(i for i, _ in legs)
                    res.cancel_instruments.update(leg.instrument_id for leg in intent.legs)
                    res.intents.append(intent)
                    if fallback is not None:
                        res.fallbacks[intent.intent_id] = fallback

        # G4: exposure to an expiring contract is closed before its blackout starts
        blackout_ns = int(cfg.g4.blackout_hours * 3600 * NS_PER_SEC)
        for iid, q in account.positions.items():
            inst = self.instruments.get(iid)
            if inst is not None and inst.ts_expiry_ns is not None and now_ns >= inst.ts_expiry_ns - blackout_ns:
                intent = self.actions.close([(iid, q)], now_ns, f"G4 {DenyCode.EXPIRY_CLOSE}", tag="expiry")
                if intent is not None:
                    res.cancel_instruments.add(iid)
                    res.intents.append(intent)
        return res

    def reload(self, cfg: RulesConfig) -> None:
        """New thresholds from a validated rules file; trading state, ladders and timers are kept."""
        self.cfg = cfg
        self.rules = default_rules(cfg, self.ladders, self.venue_health)
        self.collar = PriceCollar(cfg.g6)
        self.calendar = ExpiryCalendar(
            cfg.g4.calendars,
            blackout_hours=cfg.g4.blackout_hours,
            final_week_days=cfg.g4.final_week_days,
            discount_days=cfg.g4.funding_discount_days,
        )
        self._bind_reads()

    def venue_rejected(self, venue: str, reason: str, now_ns: int) -> int | None:
        """A venue rejected one of our orders (the executor reports each); enough of them pause entries there.
        Returns the end of a pause this rejection starts (or extends), else None."""
        if self.venue_health.rejected(venue, reason, now_ns, self.cfg.g6):
            return self.venue_health.paused_until[venue]
        return None

    def export_state(self) -> dict[str, Any]:
        """What must survive a restart, JSON-ready: trading state, peaks, ladder stages, leg timers, completed
        pairs, the order-rate window and venue pauses."""
        st = self.state
        return {
            "trading_state": st.trading_state.value,
            "cause": st.cause.value if st.cause else None,
            "peak_equity": st.peak_equity,
            "day": st.day,
            "day_start_equity": st.day_start_equity,
            "ladders": self.ladders.export(),
            "unhedged_since": dict(self.unhedged_since),
            "completed": sorted(self._completed),
            "recent": list(self._recent),
            "venues_paused_until": self.venue_health.export(),
        }

    def import_state(self, data: dict[str, Any]) -> None:
        """Back from ``export_state()`` (after a restart)."""
        st = self.state
        st.trading_state = TradingState(data["trading_state"])
        st.cause = DenyCode(data["cause"]) if data.get("cause") else None
        st.peak_equity, st.day, st.day_start_equity = data["peak_equity"], data["day"], data["day_start_equity"]
        self.ladders.restore(data.get("ladders", []))
        self.unhedged_since = {k: int(v) for k, v in data.get("unhedged_since", {}).items()}
        self._completed = set(data.get("completed", []))
        self._recent.clear()
        self._recent.extend(int(x) for x in data.get("recent", []))
        self.venue_health.restore(data.get("venues_paused_until", {}))

    def set_state(self, to: TradingState, now_ns: int, origin: str, reason: str) -> StateTransition | None:
        """An operator's or a watchdog's state change; the caller publishes the transition it returns."""
        return set_state(self.state, to, now_ns, origin, reason)

    def flatten_intents(self, account: AccountView, now_ns: int, origin: Origin, reason: str) -> list[OrderIntent]:
        """One market close per open position (governor- or operator-issued flatten)."""
        out = []
        for iid, qty in sorted(account.positions.items()):
            intent = self.actions.close([(iid, qty)], now_ns, reason, tag="flat", flatten=True, origin=origin)
            if intent is not None:
                out.append(intent)
        return out

    # --- per intent ----------------------------------------------------------------------------------------------
    def entry_gates(
        self, account: AccountView, reads: TickReads | None, market: Mapping[str, MarketSnapshot], now_ns: int
    ) -> EntryGates:
        """What the standing state refuses to any new entry now (``bot.governor.gates``)."""
        derivatives = [iid for iid, inst in self.instruments.items() if inst.is_derivative and iid in market]
        return entry_gates(
            self.state.trading_state, account, self.ladders, self.venue_health.paused_until, reads, derivatives, now_ns
        )

    def decide_transfer(self, intent: TransferIntent, account: AccountView, now_ns: int) -> TransferDecision:
        """Answer one transfer intent (``bot.governor.transfers``)."""
        tid = f"{self.client_id_prefix}{intent.intent_id}"
        return decide_transfer(intent, account.accounts, self.cfg, self.state.trading_state, now_ns, tid)

    def decide(
        self,
        intent: OrderIntent,
        account: AccountView,
        market: Mapping[str, MarketSnapshot],
        now_ns: int,
        reads: TickReads | None = None,
    ) -> Decision:
        """Answer one intent. ``reads``: the tick's (``TickResult.reads``); without them they are read now."""
        if reads is None:
            reads = self.reads_at(market, now_ns)
        state = self.state.trading_state
        positions = account.positions
        for leg in intent.legs:
            if leg.instrument_id not in self.instruments or leg.instrument_id not in market:
                known = leg.instrument_id in self.instruments
                code = DenyCode.NO_SNAPSHOT if known else DenyCode.UNKNOWN_INSTRUMENT
                hit = RuleHit(RuleId.G6, code, 0.0, {"instrument": leg.instrument_id})
                return self._finish(intent, Outcome.REJECT, 0.0, (hit,), (), state, False, now_ns)
        qtys = [leg.qty for leg in intent.legs]
        legs = self._price(intent, qtys, positions, market)
        reducing = intent.purpose is not _ENTRY and (
            all(_shrinks(positions.get(pl.instrument.id, 0.0), pl) for pl in legs)
            or (intent.origin is Origin.GOVERNOR and _hedges(account, legs))
        )
        gate = _state_gate(state, intent, reducing)
        if gate is not None:
            return self._finish(intent, Outcome.REJECT, 0.0, (gate,), (), state, reducing, now_ns)
        # G6 collars, on every intent (a risk-reducing order at a broken price is no reduction of risk); an entry
        # meets the stricter entry-only rules first and the collar as a backstop after them
        collar, collar_limits = self.collar.check(intent, legs, True) if reducing else (None, {})
        if collar is not None and collar.max_scale <= 0.0:
            return self._finish(intent, Outcome.REJECT, 0.0, (collar,), (), state, reducing, now_ns)

        hits: list[RuleHit] = [collar] if collar is not None else []
        resized = False
        if not reducing:
            recent = self._recent
            while recent and recent[0] <= now_ns - _MINUTE_NS:
                recent.popleft()
            # Resize to a fixed point: quantities rounded down to the venues' steps can break a cap that the exact
            # scale met (offsetting legs round differently), so the rounded intent is checked again.
            for attempt in range(4):
                scale = self._evaluate(intent, legs, account, now_ns, reads, len(recent), hits, caps_only=attempt > 0)
                if scale <= 0.0:
                    return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
                if scale >= 1.0:
                    break
                resized = True
                dscale = Decimal(repr(scale))
                qtys = [pl.instrument.round_qty(q * dscale) for q, pl in zip(qtys, legs, strict=True)]
                if any(q < pl.instrument.min_qty for q, pl in zip(qtys, legs, strict=True)):
                    hits.append(RuleHit(RuleId.G7, DenyCode.BELOW_MIN_SIZE, 0.0, {"scale": scale}))
                    return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
                legs = self._price(intent, qtys, positions, market)
            else:
                hits.append(RuleHit(RuleId.G7, DenyCode.BELOW_MIN_SIZE, 0.0, {"reason": "no_fixed_point"}))
                return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
            collar, _ = self.collar.check(intent, legs, False)
            if collar is not None:
                hits.append(collar)
                return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
        overall = min(float(q / leg.qty) for q, leg in zip(qtys, intent.legs, strict=True)) if resized else 1.0
        if overall < 1.0 and overall < self.cfg.g7.min_resize_scale:
            hits.append(
                RuleHit(
                    RuleId.G7,
                    DenyCode.BELOW_MIN_SIZE,
                    0.0,
                    {"scale": overall, "min_scale": self.cfg.g7.min_resize_scale},
                )
            )
            return self._finish(intent, Outcome.REJECT, 0.0, tuple(hits), (), state, reducing, now_ns)
        orders = self._orders(
            intent,
            legs,
            qtys,
            now_ns,
            post_only=not reducing and self.cfg.g6.entries_post_only,
            collar_limits=collar_limits,
        )
        if any(o.post_only for o in orders) and any(leg.order_type is OrderType.MARKET for leg in intent.legs):
            hits.append(RuleHit(RuleId.G6, DenyCode.POST_ONLY_ENTRY, 1.0, {"legs": len(orders)}))
        self._recent.extend(now_ns for _ in orders)
        outcome = Outcome.RESIZE if overall < 1.0 else Outcome.APPROVE
        return self._finish(
            intent,
            outcome,
            overall,
            tuple(hits),
            orders,
            state,
            reducing,
            now_ns,
            () if reducing else self._unavailable(legs, reads),
        )

    @staticmethod
    def _unavailable(legs: list[PricedLeg], reads: TickReads) -> tuple[str, ...]:
        names: set[str] = set()
        for pl in legs:
            iid = pl.instrument.id
            if reads.leverage(iid).realized_vol is None:
                names.add("realized_vol")
            if pl.instrument.is_derivative:
                names.update(reads.crowding(iid).unavailable)
        return tuple(sorted(names))

    def _price(
        self,
        intent: OrderIntent,
        qtys: list[Decimal],
        positions: Mapping[str, float],
        market: Mapping[str, MarketSnapshot],
    ) -> list[PricedLeg]:
        out = []
        for leg, qty in zip(intent.legs, qtys, strict=True):
            inst = self.instruments[leg.instrument_id]
            snap = market[leg.instrument_id]
            q = float(qty)
            signed = q if leg.side is _BUY else -q
            pos = positions.get(inst.id, 0.0)
            out.append(PricedLeg(inst, snap, signed, q * snap.mark, abs(pos + signed) > abs(pos)))
        return out

    def _evaluate(
        self,
        intent: OrderIntent,
        legs: list[PricedLeg],
        account: AccountView,
        now_ns: int,
        reads: TickReads,
        recent: int,
        hits: list[RuleHit],
        caps_only: bool = False,
    ) -> float:
        """Run the rules on priced legs; append new hits; return the smallest scale they allow."""
        positions = account.positions
        added: dict[str, float] = {}
        for pl in legs:
            pos = positions.get(pl.instrument.id, 0.0)
            delta = (abs(pos + pl.signed_qty) - abs(pos)) * pl.snapshot.mark
            added[pl.instrument.venue] = added.get(pl.instrument.venue, 0.0) + delta
        ctx = CheckContext(intent, tuple(legs), account, now_ns, added, sum(added.values()), reads, recent)
        scale = 1.0
        seen = {h.code for h in hits}
        for rule in self.rules:
            if caps_only and rule.relative:
                continue
            hit = rule.check(ctx)
            if hit is not None:
                if hit.code not in seen:
                    hits.append(hit)
                if hit.max_scale < scale:
                    scale = hit.max_scale
                if scale <= 0.0:
                    if hit.code in seen:
                        hits.append(hit)
                    break  # fail fast: nothing can undo a denial
        return scale

    def _orders(
        self,
        intent: OrderIntent,
        legs: list[PricedLeg],
        qtys: list[Decimal],
        now_ns: int,
        post_only: bool,
        collar_limits: Mapping[int, Decimal] | None = None,
    ) -> tuple[Order, ...]:
        orders = []
        hedge_index = -1  # two-leg entry with a taker hedge: the more liquid leg may cross once the lead fills
        if post_only and len(legs) == 2 and self.cfg.g6.hedge_leg == "taker":
            hedge_index = 0 if legs[0].instrument.liquidity_rank > legs[1].instrument.liquidity_rank else 1
        for i, (leg, pl, qty) in enumerate(zip(intent.legs, legs, qtys, strict=True)):
            s = pl.snapshot
            order_type, limit, maker = leg.order_type, leg.limit_price, leg.post_only
            if post_only and order_type is _MARKET and i != hedge_index:  # G6: join the passive side, don't cross
                order_type, maker = _LIMIT, True
                limit = Decimal(repr(s.bid if leg.side is _BUY else s.ask))
            elif collar_limits and i in collar_limits:  # G6 collar: a market order capped at the band's edge
                order_type, limit = _LIMIT, collar_limits[i]
            ref_touch = float(limit) if maker and limit is not None else s.touch(leg.side)
            if leg.reduce_only:  # a close of what is held, in the venue's lots (what is left under a lot is dust)
                rounded = pl.instrument.round_qty(qty)
                qty = rounded if rounded >= pl.instrument.min_qty else qty
            # positional, in Order's field order (this runs for every approved leg)
            cid = f"{self.client_id_prefix}{intent.intent_id}-{i}"
            orders.append(
                Order(
                    cid,
                    intent.intent_id,
                    f"d-{intent.intent_id}",
                    leg.instrument_id,
                    leg.side,
                    qty,
                    order_type,
                    intent.purpose,
                    now_ns,
                    limit,
                    maker,
                    leg.reduce_only,
                    leg.leverage,
                    s.mid,
                    ref_touch,
                )
            )
        return tuple(orders)

    def _finish(
        self,
        intent: OrderIntent,
        outcome: Outcome,
        scale: float,
        hits: tuple[RuleHit, ...],
        orders: tuple[Order, ...],
        state: TradingState,
        reducing: bool,
        now_ns: int,
        unavailable: tuple[str, ...] = (),
    ) -> Decision:
        return Decision(
            f"d-{intent.intent_id}", intent, outcome, scale, hits, orders, state, reducing, now_ns, unavailable
        )
