"""The rules file model (``rules/default.yaml``): every governor threshold, validated at load.

Unknown keys and out-of-range values are rejected; ``load_rules`` reports every problem at once, each naming
its field (``g7.max_daily_loss_pct``). Units are in the names: ``_pct`` fractions (0.02 = 2%), ``_bps`` basis
points, ``_usd`` quote currency, ``_secs``/``_hours``/``_days`` time, ``vol`` annualized fractions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError, model_validator

from bot.section import Section

Frac = Annotated[float, Field(ge=0.0, le=1.0)]
Pos = Annotated[float, Field(gt=0.0)]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: Any) -> float:
    """``"7d"``, ``"8h"``, ``"90m"``, ``"30s"``, ``"2w"`` -> seconds. A bare number is refused: a window counted in
    snapshots changes meaning with the bar size (21 snapshots are 7 days of 8h bars, 21 hours of hourly ones)."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("give a duration with its unit, e.g. 7d, 8h or 90m (windows are time, not a count of bars)")


def format_duration(secs: float) -> str:
    for unit in ("d", "h", "m"):
        if secs >= _UNITS[unit] and secs % _UNITS[unit] == 0:
            return f"{int(secs // _UNITS[unit])}{unit}"
    return f"{secs:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration), Field(gt=0)]


@dataclass(frozen=True, slots=True)
class SnapshotWindows:
    """The signal windows in snapshots of one feed's step (each at least what its statistic needs)."""

    vol: int
    short_vol: int
    oi: int
    liq: int
    structure_bucket: int  # snapshots whose lows make one structure low


class SignalsConfig(Section):
    """How signals are computed from the feed, and whether an *unavailable* signal counts as a caution."""

    vol_window: Duration = Field(7 * 86_400.0, description="the realized-volatility window")
    short_vol_window: Duration = Field(86_400.0, description="the short-horizon volatility window")
    oi_window: Duration = Field(86_400.0, description="over which OI and price change are compared")
    liq_window: Duration = Field(3 * 86_400.0, description="the liquidation-intensity baseline")
    structure_bar: Duration = Field(8 * 3600.0, description="the span whose low is one low of the structure test")
    structure_window: int = Field(3, ge=2, le=100, description="consecutive lower lows (of structure_bar) that break")
    fast_break_sigma: float = Field(1.5, gt=0, le=20, description="a break faster than this many σ is 'fast'")

    def windows(self, step_secs: float) -> SnapshotWindows:
        """These windows counted in snapshots of ``step_secs`` (rounded, never below what the statistic needs)."""

        def n(secs: float, least: int) -> int:
            return max(least, round(secs / step_secs))

        return SnapshotWindows(
            n(self.vol_window, 2),
            n(self.short_vol_window, 2),
            n(self.oi_window, 1),
            n(self.liq_window, 2),
            n(self.structure_bar, 1),
        )

    unavailable_is_caution: dict[Literal["oi_vs_price", "liquidations", "skew", "structure", "funding"], bool] = {
        "oi_vs_price": False,
        "liquidations": False,
        "skew": False,
        "structure": False,
        "funding": False,
    }


class G1Config(Section):
    """Volatility-scaled leverage: clamp(base × target_vol / realized_vol, min, cap), halved under stress."""

    base_leverage: Pos = 3.0
    target_vol: Pos = 0.50
    min_leverage: Pos = 1.0
    cap: Pos = 5.0
    halve_above_vol: Pos = 1.00
    halve_above_liq_intensity: Pos = 3.0
    elevated_funding_8h: Pos = 0.0003
    elevated_funding_factor: Frac = 0.75

    @model_validator(mode="after")
    def _ordered(self) -> G1Config:
        if not self.min_leverage <= self.base_leverage <= self.cap:
            raise ValueError("need min_leverage <= base_leverage <= cap")
        return self


class G2Config(Section):
    """Margin buffer: survive k·σ over the horizon and an adverse move, with liq_buffer to spare."""

    sigma_multiple: Pos = 2.0
    holding_horizon_days: Pos = 30.0
    adverse_move_pct: Frac = 0.10
    liq_buffer_pct: Frac = 0.05
    liq_buffer_stress_pct: Frac = 0.10
    stress_vol: Pos = 1.0
    topup_below_pct: Frac = Field(0.40, description="a perp whose liquidation is nearer than this gets collateral")
    topup_to_pct: Frac = Field(0.60, description="... enough to put its liquidation this far away")
    min_topup_usd: float = Field(50.0, ge=0, description="a top-up smaller than this is not worth a transfer")

    @model_validator(mode="after")
    def _buffers(self) -> G2Config:
        if self.topup_to_pct <= self.topup_below_pct:
            raise ValueError("topup_to_pct must be above topup_below_pct")
        if self.liq_buffer_stress_pct < self.liq_buffer_pct:
            raise ValueError("liq_buffer_stress_pct must be >= liq_buffer_pct")
        return self


class LadderBands(Section):
    """Three thresholds on a measure; ``worse`` says which way is worse."""

    stages: tuple[float, float, float]
    worse: Literal["higher", "lower"]

    @model_validator(mode="after")
    def _monotonic(self) -> LadderBands:
        a, b, c = self.stages
        ok = a < b < c if self.worse == "higher" else a > b > c
        if not ok:
            raise ValueError(f"stages must tighten strictly in the '{self.worse}' direction")
        return self


class G3Config(Section):
    trim_pct: Frac = 0.25
    hysteresis_pct: Frac = 0.20
    drawdown: LadderBands = LadderBands(stages=(0.03, 0.05, 0.08), worse="higher")
    liq_distance: LadderBands = LadderBands(stages=(0.30, 0.20, 0.10), worse="lower")
    crowding: LadderBands = LadderBands(stages=(2, 3, 4), worse="higher")
    min_hedge_usd: Pos = 100.0


class G4Config(Section):
    calendars: tuple[Literal["cme", "venue"], ...] = ("cme", "venue")
    blackout_hours: Pos = 48.0
    final_week_days: Pos = 7.0
    final_week_size_factor: Frac = 0.5
    final_week_band_widen: float = Field(1.5, ge=1.0, le=5.0)
    funding_discount_days: Pos = 14.0
    funding_signal_discount: Frac = 0.5
    min_discounted_edge_apr: float = Field(0.05, ge=0.0, le=5.0)
    high_pressure_oi_share: Frac = 0.40
    muted_oi_share: Frac = 0.25
    high_pressure_size_factor: Frac = 0.5

    @model_validator(mode="after")
    def _windows(self) -> G4Config:
        if self.blackout_hours / 24 > self.final_week_days or self.final_week_days > self.funding_discount_days:
            raise ValueError("need blackout_hours/24 <= final_week_days <= funding_discount_days")
        if self.muted_oi_share >= self.high_pressure_oi_share:
            raise ValueError("muted_oi_share must be below high_pressure_oi_share")
        return self


class G5Config(Section):
    punitive_funding_8h: Pos = 0.0005
    oi_rise_pct: Frac = 0.02
    price_fall_pct: Frac = 0.02
    liq_cluster_ratio: Pos = 3.0
    liq_cluster_count: int = Field(2, ge=1, le=100)
    skew_steepening: Pos = 0.02
    half_size_at: int = Field(2, ge=1, le=5)
    no_entry_at: int = Field(3, ge=1, le=5)
    reduce_oi_elevated_pct: Frac = 0.95

    @model_validator(mode="after")
    def _ordered(self) -> G5Config:
        if self.half_size_at > self.no_entry_at:
            raise ValueError("half_size_at must be <= no_entry_at")
        return self


class G6Config(Section):
    """Execution hygiene: post-only entries; fail closed on stale, wide or insane prices."""

    entries_post_only: bool = True
    hedge_leg: Literal["taker", "post_only"] = Field(
        "taker",
        description="two-leg entries: the less liquid leg goes first post-only; its hedge then takes at once "
        "(taker) or also joins the book (post_only, completed or unwound by G9 after leg_timeout)",
    )
    max_snapshot_age_secs: float = Field(120.0, gt=0, le=86_400)
    max_funding_age_secs: float = Field(9 * 3600.0, gt=0, le=7 * 86_400, description="beyond next funding time")
    price_band_pct: float = Field(0.02, gt=0, le=0.5, description="mark vs index vs last must agree within this")
    max_basis_apr: float = Field(
        1.0,
        gt=0,
        le=20,
        description="dated futures: |annualized basis| vs index above this "
        "is insane (their mark is meant to differ from it)",
    )
    max_spread_bps: float = Field(25.0, gt=0, le=10_000)
    max_short_vol: float = Field(2.5, gt=0, le=100, description="annualized short-horizon volatility gate")
    venue_reject_limit: int = Field(
        3, ge=1, le=1000, description="venue rejections within the window that pause entries on that venue"
    )
    venue_reject_window_secs: float = Field(300.0, gt=0, le=86_400)
    venue_cooloff_secs: float = Field(
        900.0, ge=0, le=7 * 86_400, description="entries stay paused this long after the last rejection"
    )
    # price guard (feed) and collars (every order, risk-reducing ones included)
    guard_jump_pct: float = Field(
        0.5,
        gt=0,
        le=100,
        description="a print this far from the instrument's last trusted price is suspect until it persists",
    )
    guard_cross_pct: float = Field(
        0.15,
        gt=0,
        le=10,
        description="a print this far from the median of the same asset elsewhere is suspect while they disagree",
    )
    guard_confirm_prints: int = Field(
        2, ge=1, le=1000, description="consecutive consistent prints that confirm a suspect jump as the new level"
    )
    collar_pct: float = Field(
        0.05,
        gt=0,
        le=1,
        description="no order at a price further than this from the trusted "
        "reference (mark, checked against the index)",
    )


class G7Config(Section):
    """Hard limits."""

    max_order_notional_usd: float = Field(60_000, gt=0)
    max_gross_venue_usd: float = Field(250_000, gt=0)
    max_gross_total_usd: float = Field(600_000, gt=0)
    max_net_venue_usd: float = Field(25_000, gt=0)
    max_net_total_usd: float = Field(50_000, gt=0)
    max_risk_per_position_pct: float = Field(0.02, gt=0, le=1, description="equity at risk per position")
    basis_stress_pct: float = Field(0.005, ge=0, le=1, description="hedged legs' stress move used for risk")
    max_daily_loss_pct: float = Field(0.02, gt=0, le=1, description="of start-of-UTC-day equity: then REDUCING")
    max_drawdown_pct: float = Field(0.10, gt=0, le=1, description="from peak equity: then HALTED")
    max_orders_per_minute: int = Field(60, ge=1, le=100_000)
    max_open_orders: int = Field(50, ge=1, le=10_000)
    min_resize_scale: float = Field(0.05, ge=0, le=1, description="a resize below this share of the intent rejects")
    max_transfer_usd: float = Field(250_000, gt=0, description="the most one wallet transfer may move")

    @model_validator(mode="after")
    def _coherent(self) -> G7Config:
        if self.max_gross_venue_usd > self.max_gross_total_usd:
            raise ValueError("max_gross_venue_usd cannot exceed max_gross_total_usd")
        if self.max_net_venue_usd > self.max_net_total_usd:
            raise ValueError("max_net_venue_usd cannot exceed max_net_total_usd")
        if self.max_daily_loss_pct > self.max_drawdown_pct:
            raise ValueError("max_daily_loss_pct cannot exceed max_drawdown_pct")
        return self


class G8Config(Section):
    flatten_on_halt: bool = True
    reducing_on_account_derisk: bool = True


class G9Config(Section):
    leg_timeout_secs: float = Field(30.0, gt=0, le=86_400)
    max_unhedged_usd: float = Field(2_000.0, ge=0)
    max_completion_move_pct: float = Field(
        0.005,
        ge=0,
        le=0.5,
        description="complete a lone leg with a marketable "
        "order only while price is within this of its fill; else unwind it",
    )


class AssetCaps(Section):
    max_gross_usd: float = Field(gt=0)
    max_net_usd: float = Field(gt=0)


class FirmConfig(Section):
    """G7 at firm scope: one budget shared by every instance on the firm store (settings ``firm.enabled``).
    Entries reserve their share before their orders are written ahead; risk reduction never waits for it."""

    max_gross_asset_usd: float = Field(400_000, gt=0, description="Σ |notional| on one base asset, all instances")
    max_net_asset_usd: float = Field(50_000, gt=0, description="|Σ signed notional| on one base asset")
    max_gross_total_usd: float = Field(1_000_000, gt=0)
    max_net_total_usd: float = Field(100_000, gt=0)
    assets: dict[str, AssetCaps] = Field(
        default_factory=dict, description="per base asset (e.g. BTC): caps replacing the two above"
    )
    max_daily_loss_usd: float = Field(
        20_000, gt=0, description="Σ over instances of start-of-day equity − equity: then no entries that day"
    )
    max_orders_per_minute: int = Field(240, ge=1, le=1_000_000, description="entry orders reserved, all instances")
    lease_secs: float = Field(
        15.0, ge=1, le=3600, description="an instance silent this long loses its reservations (its positions stay)"
    )

    @model_validator(mode="after")
    def _coherent(self) -> FirmConfig:
        if self.max_gross_asset_usd > self.max_gross_total_usd:
            raise ValueError("max_gross_asset_usd cannot exceed max_gross_total_usd")
        if self.max_net_asset_usd > self.max_net_total_usd:
            raise ValueError("max_net_asset_usd cannot exceed max_net_total_usd")
        return self

    def caps_of(self, asset: str) -> tuple[float, float]:
        """(gross, net) caps of one base asset."""
        own = self.assets.get(asset)
        return (own.max_gross_usd, own.max_net_usd) if own else (self.max_gross_asset_usd, self.max_net_asset_usd)


class RulesConfig(Section):
    version: Literal[1] = 1
    signals: SignalsConfig = SignalsConfig()
    g1: G1Config = G1Config()
    g2: G2Config = G2Config()
    g3: G3Config = G3Config()
    g4: G4Config = G4Config()
    g5: G5Config = G5Config()
    g6: G6Config = G6Config()
    g7: G7Config = G7Config()
    g8: G8Config = G8Config()
    g9: G9Config = G9Config()
    firm: FirmConfig = FirmConfig()

    @model_validator(mode="after")
    def _cross(self) -> RulesConfig:
        if self.g3.drawdown.stages[2] * self.g4.final_week_band_widen > 1:
            raise ValueError("g3.drawdown.stages[2] × g4.final_week_band_widen must stay below 1")
        return self


class RulesError(ValueError):
    """A rules file that cannot be used; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


def default_rules_path() -> Path:
    """``rules/default.yaml`` of the checkout, or its copy inside the installed wheel."""
    packaged = Path(str(resources.files("bot.governor").joinpath("default_rules.yaml")))
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules" / "default.yaml"


def load_rules(path: Path | None = None) -> RulesConfig:
    path = path or default_rules_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RulesError(path, [("<file>", f"cannot read: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise RulesError(path, [("<file>", f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise RulesError(path, [("<file>", "top level must be a mapping")])
    try:
        return RulesConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "<root>", e["msg"]) for e in exc.errors()]
        raise RulesError(path, problems) from exc
