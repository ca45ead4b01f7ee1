"""S2 cross-venue perp–perp funding arbitrage (SPEC §2).

Per base asset: long the perpetual where annualized funding is lowest, short where it is highest, equal base quantity.
Each venue's rate is annualized with that venue's own interval, so an hourly venue is compared fairly with an 8-hourly
one (and accrues 8 settlements for the other's one). Edge = the annualized differential minus round-trip fees,
spreads and slippage on both perps amortized over ``holding_days``. Exit when the differential (on the venues held)
falls below ``exit_threshold_apr`` or flips, or the pair is no longer hedged.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping

from bot.domain import (
    SECS_PER_YEAR,
    ZERO,
    Instrument,
    InstrumentKind,
    IntentLeg,
    MarketBatch,
    OrderIntent,
    Origin,
    Purpose,
    Side,
    to_decimal,
)
from bot.strategies.base import StrategyView
from bot.strategies.s1_spot_perp import half_spread_frac
from bot.strategies.settings import S2Settings


class CrossVenueFunding:
    name = "s2"

    def __init__(self, cfg: S2Settings, instruments: Mapping[str, Instrument], expected_slippage_bps: float = 0.5):
        self.cfg = cfg
        self._slip = expected_slippage_bps * 1e-4
        self._perps: dict[str, list[Instrument]] = {}
        for inst in instruments.values():
            if inst.kind is InstrumentKind.PERP:
                self._perps.setdefault(inst.base, []).append(inst)
        self._perps = {b: sorted(v, key=lambda i: i.id) for b, v in self._perps.items() if len(v) >= 2}
        self._rates: dict[str, deque[float]] = {
            i.id: deque(maxlen=cfg.funding_lookback_periods) for v in self._perps.values() for i in v
        }
        self._base_of = {i.id: i.base for v in self._perps.values() for i in v}
        self._ppy: dict[str, float] = {}  # perp -> settlements a year at the interval its snapshots state
        self.stats: Counter[str] = Counter()

    def opportunity_venues(self) -> list[tuple[str, ...]]:
        return [tuple(sorted({p.venue for p in perps})) for perps in self._perps.values()]

    def apr(self, inst: Instrument, predicted: float | None) -> float | None:
        """Annualized funding estimate for one perp (prediction first, else the settled mean)."""
        ppy = self._ppy.get(inst.id) or inst.funding_periods_per_year  # the interval the venue states now
        if predicted is not None:
            return predicted * ppy
        window = self._rates[inst.id]
        if len(window) < self.cfg.funding_lookback_periods:
            return None
        return sum(window) / len(window) * ppy

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]:
        touched: set[str] = set()
        for snap in batch.snapshots:
            base = self._base_of.get(snap.instrument_id)
            if base is not None:
                touched.add(base)
                if snap.settlement is not None:
                    self._rates[snap.instrument_id].append(snap.settlement.rate)
                if snap.funding_interval_secs:
                    self._ppy[snap.instrument_id] = SECS_PER_YEAR / snap.funding_interval_secs
        out: list[OrderIntent] = []
        for base, perps in self._perps.items():
            if base not in touched or any(p.id in view.busy for p in perps):
                continue
            snaps = {p.id: view.market.get(p.id) for p in perps}
            if any(s is None for s in snaps.values()):
                continue
            aprs = {p.id: self.apr(p, snaps[p.id].predicted_funding_rate) for p in perps}  # type: ignore[union-attr]
            held = {p.id: view.positions.get(p.id, ZERO) for p in perps}
            open_legs = {k: q for k, q in held.items() if q}
            if not open_legs:
                gated = view.gates.closed or view.gates.bases.get(base, "")  # it picks its venues itself
                if gated:
                    self.stats[f"gated_{gated}"] += 1  # the governor's standing state would refuse it
                    continue
                intent = self._entry(base, perps, aprs, snaps, now_ns)  # type: ignore[arg-type]
                if intent is not None:
                    out.append(intent)
                continue
            longs = [k for k, q in open_legs.items() if q > 0]
            shorts = [k for k, q in open_legs.items() if q < 0]
            hedged = len(longs) == 1 and len(shorts) == 1 and open_legs[longs[0]] == -open_legs[shorts[0]]
            diff = None
            if hedged and aprs[longs[0]] is not None and aprs[shorts[0]] is not None:
                diff = aprs[shorts[0]] - aprs[longs[0]]  # type: ignore[operator]
            if hedged and (diff is None or diff >= self.cfg.exit_threshold_apr):
                continue
            reason = "unhedged" if not hedged else "carry_gone"
            legs = tuple(
                IntentLeg(k, Side.SELL if q > 0 else Side.BUY, abs(q), reduce_only=True)
                for k, q in sorted(open_legs.items())
            )
            out.append(self._intent(base, Purpose.EXIT, now_ns, reason, legs))
            self.stats[f"exit_{reason}"] += 1
        return out

    def _entry(
        self, base: str, perps: list[Instrument], aprs: dict[str, float | None], snaps: dict[str, object], now_ns: int
    ) -> OrderIntent | None:
        known = [(aprs[p.id], p) for p in perps if aprs[p.id] is not None]
        if len(known) < 2:
            return None
        low_apr, low = min(known, key=lambda t: (t[0], t[1].id))
        high_apr, high = max(known, key=lambda t: (t[0], t[1].id))
        if high is low:
            return None
        s_low, s_high = snaps[low.id], snaps[high.id]
        fees = 2.0 * float(low.fees.taker + high.fees.taker)
        costs = fees + 2.0 * (half_spread_frac(s_low) + half_spread_frac(s_high)) + 4.0 * self._slip  # type: ignore[arg-type]
        diff = high_apr - low_apr  # type: ignore[operator]
        net = diff - costs * 365.0 / self.cfg.holding_days
        if net < self.cfg.entry_threshold_apr:
            return None
        step = max(low.qty_step, high.qty_step)
        price = max(to_decimal(s_low.ask), to_decimal(s_high.ask))  # type: ignore[attr-defined]
        qty = (self.cfg.notional_usd / price / step).to_integral_value(rounding="ROUND_FLOOR") * step
        if qty <= 0:
            return None
        self.stats["entries"] += 1
        return self._intent(
            base,
            Purpose.ENTRY,
            now_ns,
            f"diff_apr={diff:.4f} net={net:.4f}",
            (
                IntentLeg(low.id, Side.BUY, qty, leverage=self.cfg.leverage),
                IntentLeg(high.id, Side.SELL, qty, leverage=self.cfg.leverage),
            ),
            edge_apr=net,
        )

    def _intent(
        self,
        base: str,
        purpose: Purpose,
        now_ns: int,
        reason: str,
        legs: tuple[IntentLeg, ...],
        edge_apr: float | None = None,
    ) -> OrderIntent:
        return OrderIntent(
            f"s2-{base}-{now_ns // 1_000_000}",
            Origin.STRATEGY,
            self.name,
            purpose,
            legs,
            now_ns,
            reason=reason,
            edge_apr=edge_apr,
        )
