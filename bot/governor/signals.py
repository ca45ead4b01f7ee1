"""Market signals for the governor, computed from snapshots by small pure functions and one rolling tracker.

Every signal is ``None`` when the feed cannot provide what it needs (no open interest, no liquidation prints, no
options): the decision and the metrics then say *unavailable*, and the rules file decides whether that counts as a
caution. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from bot.domain import SECS_PER_YEAR, MarketSnapshot
from bot.governor.rules_config import SignalsConfig, SnapshotWindows
from bot.rolling import RollingVol

EIGHT_HOURS = 8 * 3600


def funding_8h_equivalent(rate: float, interval_secs: int) -> float:
    """A funding rate per ``interval_secs`` expressed per 8 hours (1h venues pay 8 times as often)."""
    return rate * EIGHT_HOURS / interval_secs


def pct_change(old: float, new: float) -> float:
    return new / old - 1.0


def lower_lows_fast(lows: list[float], last_return: float | None, sigma: float | None, k: float) -> bool | None:
    """Every low below the one before, and the last move down faster than ``k`` σ."""
    if len(lows) < 2 or last_return is None or sigma is None:
        return None
    descending = all(b < a for a, b in zip(lows, lows[1:], strict=False))
    return descending and sigma > 0 and last_return < -k * sigma


class Signals(NamedTuple):
    """One instrument's signals at one tick; ``None`` = unavailable. (A NamedTuple: immutable and cheap to build,
    which matters because the ladders read it for every held instrument on every tick.)"""

    instrument_id: str
    ts_ns: int
    realized_vol: float | None
    funding_8h: float | None
    spread_bps: float
    price_change: float | None  # over the OI window
    oi_change: float | None
    oi_elevated: float | None  # current OI / window high
    liq_intensity: float | None  # latest long liquidations / window mean
    liq_clusters: int | None  # snapshots in the window with intensity above the cluster ratio
    skew_change: float | None
    lower_lows_fast: bool | None


class LeverageInputs(NamedTuple):
    """What G1 reads of an instrument's signals (the same values ``Signals`` carries)."""

    realized_vol: float | None
    liq_intensity: float | None
    funding_8h: float | None


class _State:
    __slots__ = (
        "vol",
        "vol_value",
        "marks",
        "ois",
        "liqs",
        "liq_intensity",
        "skews",
        "lows",
        "bucket_low",
        "bucket_n",
        "snap",
    )

    def __init__(self, cfg: SignalsConfig, w: SnapshotWindows, step_secs: float) -> None:
        self.vol = RollingVol(w.vol, step_secs)
        self.vol_value: float | None = None
        self.marks: deque[float] = deque(maxlen=max(w.oi, w.short_vol) + 1)
        self.ois: deque[float] = deque(maxlen=w.oi + 1)
        self.liqs: deque[float] = deque(maxlen=w.liq)
        self.liq_intensity: float | None = None
        self.skews: deque[float] = deque(maxlen=w.oi + 1)
        self.lows: deque[float] = deque(maxlen=cfg.structure_window + 1)  # one low per structure_bar
        self.bucket_low = math.inf
        self.bucket_n = 0
        self.snap: MarketSnapshot | None = None


def _window_vol(prices: list[float], ann: float) -> float | None:
    n = len(prices) - 1
    if n < 2:
        return None
    rets = [math.log(b / a) for a, b in zip(prices, prices[1:], strict=False)]
    mean = sum(rets) / n
    return math.sqrt(sum((r - mean) ** 2 for r in rets) / (n - 1)) * ann


class SignalTracker:
    """Keeps rolling windows per instrument (cheap, every snapshot) and builds ``Signals`` on demand (only for the
    instruments a decision or a ladder asks about), cached until the instrument's next snapshot."""

    def __init__(self, cfg: SignalsConfig, step_secs: float = EIGHT_HOURS, liq_cluster_ratio: float = 3.0) -> None:
        self.cfg = cfg
        self.windows = cfg.windows(step_secs)  # the rules' durations in this feed's snapshots
        self._step = step_secs
        self._ann = math.sqrt(SECS_PER_YEAR / step_secs)
        self._cluster = liq_cluster_ratio
        self._states: dict[str, _State] = {}
        self._cache: dict[str, Signals] = {}
        self._short: dict[str, float | None] = {}

    def update(self, s: MarketSnapshot) -> None:
        st = self._states.get(s.instrument_id)
        if st is None:
            st = self._states[s.instrument_id] = _State(self.cfg, self.windows, self._step)
        st.vol_value = st.vol.push(s.mark)
        st.marks.append(s.mark)
        st.snap = s
        if s.range_low is not None:
            st.bucket_low = min(st.bucket_low, s.range_low)
            st.bucket_n += 1
            if st.bucket_n >= self.windows.structure_bucket:  # a structure_bar's low is complete
                st.lows.append(st.bucket_low)
                st.bucket_low, st.bucket_n = math.inf, 0
        if s.open_interest is not None:
            st.ois.append(s.open_interest)
        if s.liq_long_usd is not None:
            liqs = st.liqs
            base = sum(liqs) / len(liqs) if liqs else 0.0
            st.liq_intensity = s.liq_long_usd / base if base > 0 else (0.0 if s.liq_long_usd == 0 else math.inf)
            liqs.append(s.liq_long_usd)
        if s.skew_25d is not None:
            st.skews.append(s.skew_25d)
        self._cache.pop(s.instrument_id, None)
        self._short.pop(s.instrument_id, None)

    def get(self, instrument_id: str) -> Signals | None:
        sig = self._cache.get(instrument_id)
        if sig is not None:
            return sig
        st = self._states.get(instrument_id)
        if st is None or st.snap is None:
            return None
        sig = self._cache[instrument_id] = self._build(st, st.snap)
        return sig

    def leverage_inputs(self, instrument_id: str) -> LeverageInputs | None:
        """G1's three signals, as ``get`` would give them, without building the others."""
        sig = self._cache.get(instrument_id)
        if sig is not None:
            return LeverageInputs(sig.realized_vol, sig.liq_intensity, sig.funding_8h)
        st = self._states.get(instrument_id)
        if st is None or st.snap is None:
            return None
        s = st.snap
        funding = None
        if s.funding_rate is not None and s.funding_interval_secs:
            funding = funding_8h_equivalent(s.funding_rate, s.funding_interval_secs)
        return LeverageInputs(
            st.vol_value if st.vol_value is not None else s.realized_vol,
            st.liq_intensity if s.liq_long_usd is not None else None,
            funding,
        )

    def short_vol(self, instrument_id: str) -> float | None:
        """Annualized volatility over the last ``short_vol_window`` (computed only when asked)."""
        if instrument_id in self._short:
            return self._short[instrument_id]
        st = self._states.get(instrument_id)
        n = self.windows.short_vol
        if st is None or len(st.marks) <= n:
            return None
        marks = list(st.marks)
        vol = self._short[instrument_id] = _window_vol(marks[-(n + 1) :], self._ann)
        return vol

    def _build(self, st: _State, s: MarketSnapshot) -> Signals:
        cfg = self.cfg
        marks = st.marks
        oi_n = self.windows.oi
        price_change = pct_change(marks[-(oi_n + 1)], s.mark) if len(marks) > oi_n else None
        oi_change = oi_elevated = None
        if s.open_interest is not None and len(st.ois) == st.ois.maxlen and st.ois[0] > 0:
            oi_change = pct_change(st.ois[0], s.open_interest)
            oi_elevated = s.open_interest / max(st.ois)
        liq_intensity = clusters = None
        if s.liq_long_usd is not None:
            liq_intensity = st.liq_intensity
            if len(st.liqs) == st.liqs.maxlen:
                mean = sum(st.liqs) / len(st.liqs)
                clusters = sum(1 for x in st.liqs if mean > 0 and x >= self._cluster * mean)
        skew_change = None
        if s.skew_25d is not None and len(st.skews) == st.skews.maxlen:
            skew_change = s.skew_25d - st.skews[0]
        structure = None
        if s.range_low is not None and len(st.lows) == st.lows.maxlen:
            structure = lower_lows_fast(list(st.lows), st.vol.last_return, st.vol.per_step_sigma, cfg.fast_break_sigma)
        funding = None
        if s.funding_rate is not None and s.funding_interval_secs:
            funding = funding_8h_equivalent(s.funding_rate, s.funding_interval_secs)
        mid = s.mid
        vol = st.vol_value if st.vol_value is not None else s.realized_vol
        return Signals(
            s.instrument_id,
            s.ts_ns,
            vol,
            funding,
            (s.ask - s.bid) / mid * 1e4 if mid > 0 else math.inf,
            price_change,
            oi_change,
            oi_elevated,
            liq_intensity,
            clusters,
            skew_change,
            structure,
        )
