"""S3 spot–dated-futures basis, cash and carry (SPEC §2).

``basis_annualized = (F − S) / S × 365 / T_days``. Enter long spot / short the front future when it clears
``entry_threshold_apr`` net of fees (spot in and out, the future in; it settles at expiry without a fee), spreads and
slippage, amortized over the days left. Hold toward expiry; exit early when the basis has compressed below
``exit_threshold_apr``; ``roll_days_before_expiry`` ahead of expiry (before the G4 windows), roll the short into the
next quarter when its basis still pays, else close. Calendar spread between quarters:
``(F2 − F1) / F1 × 365 / T × 100`` (per cent a year).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal

from bot.domain import (
    NS_PER_SEC,
    ZERO,
    Instrument,
    InstrumentKind,
    IntentLeg,
    MarketBatch,
    MarketSnapshot,
    OrderIntent,
    Origin,
    Purpose,
    Side,
    to_decimal,
)
from bot.strategies.base import StrategyView
from bot.strategies.s1_spot_perp import half_spread_frac
from bot.strategies.settings import S3Settings

DAY_NS = 86_400 * NS_PER_SEC


def basis_annualized(future: float, spot: float, t_days: float) -> float:
    return (future - spot) / spot * 365.0 / t_days


def calendar_spread_pct(f1: float, f2: float, t_days: float) -> float:
    """Annualized spread between two quarters, in per cent: ``(F2 − F1) / F1 × 365 / T × 100``."""
    return (f2 - f1) / f1 * 365.0 / t_days * 100.0


class SpotFuturesBasis:
    name = "s3"

    def __init__(self, cfg: S3Settings, instruments: Mapping[str, Instrument], expected_slippage_bps: float = 0.5):
        self.cfg = cfg
        self._slip = expected_slippage_bps * 1e-4
        spots = {(i.venue, i.base): i for i in instruments.values() if i.kind is InstrumentKind.SPOT}
        self._futures: dict[str, list[Instrument]] = {}
        for f in instruments.values():
            if f.kind is InstrumentKind.FUTURE and (f.venue, f.base) in spots:
                self._futures.setdefault(spots[(f.venue, f.base)].id, []).append(f)
        for v in self._futures.values():
            v.sort(key=lambda i: i.ts_expiry_ns or 0)
        self._spots = {s.id: s for s in spots.values() if s.id in self._futures}
        self.stats: Counter[str] = Counter()

    def opportunity_venues(self) -> list[tuple[str, ...]]:
        return [(s.venue,) for s in self._spots.values()]

    def net_apr(
        self, spot: Instrument, fut: Instrument, s: MarketSnapshot, f: MarketSnapshot, now_ns: int
    ) -> tuple[float, float, float]:
        """(days to expiry, annualized basis, net of costs amortized over those days)."""
        t_days = ((fut.ts_expiry_ns or now_ns) - now_ns) / DAY_NS
        if t_days <= 0:
            return 0.0, 0.0, float("-inf")
        b = basis_annualized(f.mid, s.mid, t_days)
        costs = (
            2 * float(spot.fees.taker)
            + float(fut.fees.taker)
            + 2 * half_spread_frac(s)
            + half_spread_frac(f)
            + 3 * self._slip
        )
        return t_days, b, b - costs * 365.0 / t_days

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]:
        out: list[OrderIntent] = []
        for snap in batch.snapshots:
            spot = self._spots.get(snap.instrument_id)
            if spot is None:
                continue
            futures = [
                f
                for f in self._futures[spot.id]
                if f.id in view.market and (f.ts_expiry_ns or 0) > now_ns and view.market[f.id].ts_ns == now_ns
            ]
            if spot.id in view.busy or any(f.id in view.busy for f in self._futures[spot.id]):
                continue
            spot_qty = view.positions.get(spot.id, ZERO)
            held = [(f, view.positions.get(f.id, ZERO)) for f in self._futures[spot.id] if view.positions.get(f.id)]
            if not held and spot_qty == 0:
                gated = view.gates.refuses((spot, *self._futures[spot.id]))
                if gated:
                    self.stats[f"gated_{gated}"] += 1  # the governor's standing state would refuse it
                    continue
                intent = self._entry(spot, snap, futures, view, now_ns)
                if intent is not None:
                    out.append(intent)
                continue
            intent = self._manage(spot, snap, spot_qty, held, futures, view, now_ns)
            if intent is not None:
                out.append(intent)
        return out

    def _entry(
        self, spot: Instrument, s: MarketSnapshot, futures: list[Instrument], view: StrategyView, now_ns: int
    ) -> OrderIntent | None:
        for fut in futures:
            t_days, b, net = self.net_apr(spot, fut, s, view.market[fut.id], now_ns)
            if t_days < self.cfg.min_days_to_expiry:
                continue
            if net < self.cfg.entry_threshold_apr:
                return None  # only the front eligible contract is considered
            qty = self._qty(spot, fut, s)
            if qty <= 0:
                return None
            self.stats["entries"] += 1
            return self._intent(
                spot,
                Purpose.ENTRY,
                now_ns,
                f"basis={b:.4f} net={net:.4f} T={t_days:.1f}d",
                (IntentLeg(spot.id, Side.BUY, qty), IntentLeg(fut.id, Side.SELL, qty, leverage=self.cfg.leverage)),
            )
        return None

    def _manage(
        self,
        spot: Instrument,
        s: MarketSnapshot,
        spot_qty: Decimal,
        held: list[tuple[Instrument, Decimal]],
        futures: list[Instrument],
        view: StrategyView,
        now_ns: int,
    ) -> OrderIntent | None:
        if len(held) != 1 or held[0][1] != -spot_qty:
            return self._close(spot, spot_qty, held, now_ns, "unhedged")
        fut, fqty = held[0]
        fsnap = view.market.get(fut.id)
        if fsnap is None or fut not in futures:
            return None  # no fresh quote for the contract this tick
        t_days, b, _ = self.net_apr(spot, fut, s, fsnap, now_ns)
        if t_days <= self.cfg.roll_days_before_expiry:
            for nxt in futures:
                if (nxt.ts_expiry_ns or 0) <= (fut.ts_expiry_ns or 0):
                    continue
                _, nb, net = self.net_apr(spot, nxt, s, view.market[nxt.id], now_ns)
                if net >= self.cfg.entry_threshold_apr:
                    self.stats["rolls"] += 1
                    return self._intent(
                        spot,
                        Purpose.ENTRY,
                        now_ns,
                        f"roll basis={nb:.4f} net={net:.4f}",
                        (
                            IntentLeg(fut.id, Side.BUY, abs(fqty), reduce_only=True),
                            IntentLeg(nxt.id, Side.SELL, abs(fqty), leverage=self.cfg.leverage),
                        ),
                    )
                break
            return self._close(spot, spot_qty, held, now_ns, "expiry_near")
        if b < self.cfg.exit_threshold_apr:
            return self._close(spot, spot_qty, held, now_ns, "basis_compressed")
        return None

    def _close(
        self, spot: Instrument, spot_qty: Decimal, held: list[tuple[Instrument, Decimal]], now_ns: int, reason: str
    ) -> OrderIntent:
        legs = []
        if spot_qty:
            legs.append(IntentLeg(spot.id, Side.SELL if spot_qty > 0 else Side.BUY, abs(spot_qty), reduce_only=True))
        for f, q in held:
            legs.append(IntentLeg(f.id, Side.BUY if q < 0 else Side.SELL, abs(q), reduce_only=True))
        self.stats[f"exit_{reason}"] += 1
        return self._intent(spot, Purpose.EXIT, now_ns, reason, tuple(legs))

    def _qty(self, spot: Instrument, fut: Instrument, s: MarketSnapshot) -> Decimal:
        step = max(spot.qty_step, fut.qty_step)
        return (self.cfg.notional_usd / to_decimal(s.ask) / step).to_integral_value(rounding="ROUND_FLOOR") * step

    def _intent(
        self, spot: Instrument, purpose: Purpose, now_ns: int, reason: str, legs: tuple[IntentLeg, ...]
    ) -> OrderIntent:
        return OrderIntent(
            f"s3-{spot.venue}-{spot.base}-{now_ns // 1_000_000}",
            Origin.STRATEGY,
            self.name,
            purpose,
            legs,
            now_ns,
            reason=reason,
        )
