"""S1 spot–perp funding arbitrage (SPEC §2).

Positive funding: long spot, short perp, equal base quantity, collect funding. The funding estimate is the
venue's predicted rate when the feed has one, else the mean of the last ``funding_lookback_periods`` settled
rates; it is annualized with the perp's own interval (``rate × periods_per_year``). Enter when that, net of
round-trip fees on both legs, the quoted spread and expected slippage amortized over ``holding_days``, reaches
``entry_threshold_apr``. Exit when it falls below ``exit_threshold_apr`` or flips sign, or when the pair is no longer
hedged (a leg was liquidated or filled short). Reverse carry (short spot) needs a borrow source (S4): until one is
configured the strategy does not take it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import (
    ZERO, Instrument, InstrumentKind, IntentLeg, MarketBatch, OrderIntent, Origin, Purpose, Side, to_decimal,
)
from bot.settings import S1Settings
from bot.strategies.base import StrategyView


@dataclass(frozen=True, slots=True)
class _Pair:
    key: str
    spot: Instrument
    perp: Instrument
    step: Decimal
    round_trip_fee: float  # taker in and out, both legs, as a fraction of one leg's notional


class SpotPerpFunding:
    name = "s1"

    def __init__(self, cfg: S1Settings, instruments: Mapping[str, Instrument], expected_slippage_bps: float = 0.5):
        self.cfg = cfg
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
            self._pairs[perp.id] = _Pair(f"{perp.venue}-{perp.base}", spot, perp, max(spot.qty_step, perp.qty_step),
                                         fee)
        self._rates: dict[str, deque[float]] = {k: deque(maxlen=cfg.funding_lookback_periods) for k in self._pairs}
        self._seq = 0
        self.stats: Counter[str] = Counter()

    def funding_estimate(self, perp_id: str, predicted: float | None) -> float | None:
        if predicted is not None:
            return predicted
        window = self._rates[perp_id]
        if len(window) < self.cfg.funding_lookback_periods:
            return None
        return sum(window) / len(window)

    def net_edge_apr(self, pair: _Pair, rate: float, spot_spread: float, perp_spread: float) -> tuple[float, float]:
        """(gross annualized funding, net of round-trip costs amortized over the holding period)."""
        gross = abs(rate) * pair.perp.funding_periods_per_year
        costs = pair.round_trip_fee + 2.0 * (spot_spread + perp_spread) + 4.0 * self._slip
        return gross, gross - costs * 365.0 / self.cfg.holding_days

    def on_batch(self, batch: MarketBatch, view: StrategyView, now_ns: int) -> list[OrderIntent]:
        if not self.cfg.enabled:
            return []
        out: list[OrderIntent] = []
        for snap in batch.snapshots:
            pair = self._pairs.get(snap.instrument_id)
            if pair is None:
                continue
            if snap.settlement is not None:
                self._rates[snap.instrument_id].append(snap.settlement.rate)
            spot_snap = view.market.get(pair.spot.id)
            if spot_snap is None or pair.spot.id in view.busy or pair.perp.id in view.busy:
                continue
            est = self.funding_estimate(pair.perp.id, snap.predicted_funding_rate)
            spot_qty = view.positions.get(pair.spot.id, ZERO)
            perp_qty = view.positions.get(pair.perp.id, ZERO)
            if spot_qty == 0 and perp_qty == 0:
                if est is None:
                    continue
                spot_spread = (spot_snap.ask - spot_snap.bid) / 2 / spot_snap.mid
                perp_spread = (snap.ask - snap.bid) / 2 / snap.mid
                _, net = self.net_edge_apr(pair, est, spot_spread, perp_spread)
                if net < self.cfg.entry_threshold_apr:
                    continue
                if est < 0:
                    self.stats["skip_reverse_no_borrow"] += 1
                    continue
                qty = (self.cfg.notional_usd / to_decimal(spot_snap.ask) / pair.step).to_integral_value(
                    rounding="ROUND_FLOOR") * pair.step
                if qty <= 0:
                    continue
                out.append(self._intent(pair, Purpose.ENTRY, now_ns, f"net_apr={net:.4f}", (
                    IntentLeg(pair.spot.id, Side.BUY, qty),
                    IntentLeg(pair.perp.id, Side.SELL, qty, leverage=self.cfg.perp_leverage)), edge_apr=net))
                self.stats["entries"] += 1
                continue
            hedged = perp_qty < 0 and spot_qty == -perp_qty
            carry_gone = est is not None and (est < 0 or est * pair.perp.funding_periods_per_year
                                              < self.cfg.exit_threshold_apr)
            if hedged and not carry_gone:
                continue
            legs = []
            if spot_qty:
                legs.append(IntentLeg(pair.spot.id, Side.SELL if spot_qty > 0 else Side.BUY, abs(spot_qty),
                                      reduce_only=True))
            if perp_qty:
                legs.append(IntentLeg(pair.perp.id, Side.BUY if perp_qty < 0 else Side.SELL, abs(perp_qty),
                                      reduce_only=True))
            reason = "carry_gone" if carry_gone else "unhedged"
            out.append(self._intent(pair, Purpose.EXIT, now_ns, reason, tuple(legs)))
            self.stats[f"exit_{reason}"] += 1
        return out

    def _intent(self, pair: _Pair, purpose: Purpose, now_ns: int, reason: str,
                legs: tuple[IntentLeg, ...], edge_apr: float | None = None) -> OrderIntent:
        self._seq += 1
        return OrderIntent(f"s1-{pair.key}-{self._seq}", Origin.STRATEGY, self.name, purpose, legs, now_ns,
                           reason=reason, edge_apr=edge_apr)
