"""S1 spot–perp funding arbitrage (SPEC §2).

Positive funding: long spot, short perp, equal base quantity, collect funding. Negative funding: the reverse (short
spot, long perp) — only with a borrow source (S4), whose rate at our size is part of the edge.

The funding *estimate* is the venue's predicted rate when the feed has one, else the mean of the last
``funding_lookback_periods`` settled rates (entries are decided on the estimate; the ledger books what settles). It is
annualized with the perp's own interval (``rate × periods_per_year``; a 1h venue pays 8,760 times a year, never
assumed to be 8h). An entry needs the last ``persistence_periods`` settled rates each past the entry threshold on the
same side, and the estimate net of round-trip fees on both legs, the quoted spread, expected slippage (amortized over
``holding_days``) and borrow to reach ``entry_threshold_apr``. Exit when the estimate falls below
``exit_threshold_apr``, flips sign, or the pair is no longer hedged.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import (
    SECS_PER_YEAR,
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
from bot.strategies.borrow import BorrowCurve
from bot.strategies.settings import S1Settings


@dataclass(frozen=True, slots=True)
class _Pair:
    key: str
    spot: Instrument
    perp: Instrument
    step: Decimal
    round_trip_fee: float  # taker in and out, both legs, as a fraction of one leg's notional


def half_spread_frac(s: MarketSnapshot) -> float:
    return (s.ask - s.bid) / 2 / s.mid


class SpotPerpFunding:
    name = "s1"

    def __init__(
        self,
        cfg: S1Settings,
        instruments: Mapping[str, Instrument],
        expected_slippage_bps: float = 0.5,
        borrow: BorrowCurve | None = None,
        sized_by_allocator: bool = False,
    ) -> None:
        self.cfg = cfg
        # the allocator sizes entries: a held, hedged pair whose carry still clears the entry bar is offered more
        # (the allocator grants what its fair share has left: funding earned, equity grown)
        self._add = sized_by_allocator
        self.borrow = borrow
        self._slip = expected_slippage_bps * 1e-4
        self._pairs: dict[str, _Pair] = {}
        spots = {(i.venue, i.base, i.quote): i for i in instruments.values() if i.kind is InstrumentKind.SPOT}
        for perp in instruments.values():
            if perp.kind is not InstrumentKind.PERP:
                continue
            spot = spots.get((perp.venue, perp.base, perp.quote))
            if spot is None:
                continue
            fee = 2.0 * float(spot.fees.taker + perp.fees.taker)
            self._pairs[perp.id] = _Pair(
                f"{perp.venue}-{perp.base}", spot, perp, max(spot.qty_step, perp.qty_step), fee
            )
        depth = max(cfg.funding_lookback_periods, cfg.persistence_periods)
        self._rates: dict[str, deque[float]] = {k: deque(maxlen=depth) for k in self._pairs}
        self._ppy: dict[str, float] = {}  # perp -> settlements a year at the interval its snapshots state
        self.stats: Counter[str] = Counter()

    def opportunity_venues(self) -> list[tuple[str, ...]]:
        return [(p.perp.venue,) for p in self._pairs.values()]

    def funding_estimate(self, perp_id: str, predicted: float | None) -> float | None:
        """The venue's prediction when it gives one, else the mean of the last settled rates."""
        if predicted is not None:
            return predicted
        window = self._rates[perp_id]
        n = self.cfg.funding_lookback_periods
        if len(window) < n:
            return None
        recent = list(window)[-n:]
        return sum(recent) / n

    def persistent(self, perp: Instrument, sign: int) -> bool:
        """The last ``persistence_periods`` settled rates each cleared the entry threshold on side ``sign``."""
        window = self._rates[perp.id]
        n = self.cfg.persistence_periods
        if len(window) < n:
            return False
        ppy = self.periods(perp)
        return all(sign * r * ppy >= self.cfg.entry_threshold_apr for r in list(window)[-n:])

    def periods(self, perp: Instrument) -> float:
        """Settlements a year at the interval the venue states now (its snapshots carry it: venues change a perp's
        interval, 8 h to 4 h or 1 h, in volatile markets), else the instrument's."""
        return self._ppy.get(perp.id) or perp.funding_periods_per_year

    def hedged(self, pair: _Pair, spot_qty: Decimal, perp_qty: Decimal) -> bool:
        """Opposite legs equal to within what the venue keeps of a spot buy in the coin (its taker rate, twice for
        additions) or one perp lot: a venue that takes the fee in the coin bought (Binance, Bybit, OKX spot) leaves
        the spot leg that much short of the perp, which no order can or should square."""
        if not spot_qty or not perp_qty or (spot_qty > 0) == (perp_qty > 0):
            return spot_qty == -perp_qty
        tolerance = max(pair.perp.qty_step, 2 * pair.spot.fees.taker * abs(perp_qty))
        return abs(spot_qty + perp_qty) < tolerance

    def net_edge_apr(
        self, pair: _Pair, rate: float, spot_spread: float, perp_spread: float, borrow_apr: float = 0.0
    ) -> tuple[float, float]:
        """(gross annualized funding, net of round-trip costs amortized over the holding period and of borrow)."""
        gross = abs(rate) * self.periods(pair.perp)
        costs = pair.round_trip_fee + 2.0 * (spot_spread + perp_spread) + 4.0 * self._slip
        return gross, gross - costs * 365.0 / self.cfg.holding_days - borrow_apr

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]:
        out: list[OrderIntent] = []
        for snap in batch.snapshots:
            pair = self._pairs.get(snap.instrument_id)
            if pair is None:
                continue
            if snap.settlement is not None:
                self._rates[snap.instrument_id].append(snap.settlement.rate)
            if snap.funding_interval_secs:
                self._ppy[snap.instrument_id] = SECS_PER_YEAR / snap.funding_interval_secs
            spot_snap = view.market.get(pair.spot.id)
            if spot_snap is None or pair.spot.id in view.busy or pair.perp.id in view.busy:
                continue
            est = self.funding_estimate(pair.perp.id, snap.predicted_funding_rate)
            spot_qty = view.positions.get(pair.spot.id, ZERO)
            perp_qty = view.positions.get(pair.perp.id, ZERO)
            gated = view.gates.refuses((pair.spot, pair.perp))
            if spot_qty == 0 and perp_qty == 0:
                if gated:
                    self.stats[f"gated_{gated}"] += 1  # the governor's standing state would refuse it
                    continue
                intent = self._entry(pair, est, spot_snap, snap, now_ns)
                if intent is not None:
                    out.append(intent)
                continue
            hedged = self.hedged(pair, spot_qty, perp_qty)
            sign = 1 if perp_qty < 0 or (perp_qty == 0 and spot_qty > 0) else -1  # +1 positive carry, -1 reverse
            carry_gone = est is not None and (
                sign * est <= 0 or abs(est) * self.periods(pair.perp) < self.cfg.exit_threshold_apr
            )
            if hedged and not carry_gone:
                if self._add and not gated and pair.spot.id not in view.busy:
                    add = self._entry(pair, est, spot_snap, snap, now_ns, held=spot_qty)
                    if add is not None:
                        out.append(add)
                continue
            legs = []
            if spot_qty:
                legs.append(
                    IntentLeg(pair.spot.id, Side.SELL if spot_qty > 0 else Side.BUY, abs(spot_qty), reduce_only=True)
                )
            if perp_qty:
                legs.append(
                    IntentLeg(pair.perp.id, Side.BUY if perp_qty < 0 else Side.SELL, abs(perp_qty), reduce_only=True)
                )
            reason = "carry_gone" if carry_gone else "unhedged"
            out.append(self._intent(pair, Purpose.EXIT, now_ns, reason, tuple(legs)))
            self.stats[f"exit_{reason}"] += 1
        return out

    def _entry(
        self,
        pair: _Pair,
        est: float | None,
        spot: MarketSnapshot,
        perp: MarketSnapshot,
        now_ns: int,
        held: Decimal = ZERO,
    ) -> OrderIntent | None:
        """An entry, or (``held`` ≠ 0) an addition to the pair held, on the same side only."""
        if est is None or est == 0:
            return None
        sign = 1 if est > 0 else -1
        if held and (held > 0) != (sign > 0):
            return None
        notional = float(self.cfg.notional_usd)
        borrow_apr = 0.0
        if sign < 0:
            if self.borrow is None:
                self.stats["skip_reverse_no_borrow"] += 1
                return None
            borrow_apr = self.borrow.rate_for(notional)
        _, net = self.net_edge_apr(pair, est, half_spread_frac(spot), half_spread_frac(perp), borrow_apr)
        if net < self.cfg.entry_threshold_apr:
            return None
        if not self.persistent(pair.perp, sign):
            self.stats["skip_not_persistent"] += 1
            return None
        qty = (self.cfg.notional_usd / to_decimal(spot.ask) / pair.step).to_integral_value(
            rounding="ROUND_FLOOR"
        ) * pair.step
        if qty <= 0:
            return None
        spot_side = Side.BUY if sign > 0 else Side.SELL
        self.stats[("adds_offered" if held else "entries") + ("" if sign > 0 else "_reverse")] += 1
        return self._intent(
            pair,
            Purpose.ENTRY,
            now_ns,
            f"net_apr={net:.4f}",
            (
                IntentLeg(pair.spot.id, spot_side, qty),
                IntentLeg(pair.perp.id, spot_side.opposite, qty, leverage=self.cfg.perp_leverage),
            ),
            edge_apr=net,
        )

    def _intent(
        self,
        pair: _Pair,
        purpose: Purpose,
        now_ns: int,
        reason: str,
        legs: tuple[IntentLeg, ...],
        edge_apr: float | None = None,
    ) -> OrderIntent:
        # deterministic: at most one intent per pair per tick, so (pair, time) names it across restarts
        return OrderIntent(
            f"s1-{pair.key}-{now_ns // 1_000_000}",
            Origin.STRATEGY,
            self.name,
            purpose,
            legs,
            now_ns,
            reason=reason,
            edge_apr=edge_apr,
        )
