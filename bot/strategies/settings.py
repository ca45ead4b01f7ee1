"""The strategies' parameters (``CARRYBOT_STRATEGY__...``): which strategies run, the allocator that sizes their
entries, and each strategy's thresholds and sizes. Part of the bot's settings (``bot.settings``), kept beside the
strategies that read them."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.section import Section


class S1Settings(Section):
    """Spot–perp funding arbitrage (SPEC S1)."""

    notional_usd: Decimal = Field(Decimal(20_000), gt=0, le=Decimal(10**12))
    perp_leverage: int = Field(1, ge=1, le=20)
    entry_threshold_apr: float = Field(0.03, ge=0.0, le=5.0, description="net annualized edge needed to enter")
    exit_threshold_apr: float = Field(0.0, ge=-1.0, le=5.0)
    holding_days: float = Field(30.0, gt=0.0, le=3650.0, description="holding period that amortizes round-trip costs")
    funding_lookback_periods: int = Field(21, ge=1, le=1000, description="settlements averaged into the estimate")
    persistence_periods: int = Field(
        3, ge=1, le=1000, description="the last N settled rates must each clear the entry threshold"
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> S1Settings:
        if self.exit_threshold_apr >= self.entry_threshold_apr:
            raise ValueError("exit_threshold_apr must be below entry_threshold_apr")
        return self


class S2Settings(Section):
    """Cross-venue perp–perp funding arbitrage (SPEC S2)."""

    notional_usd: Decimal = Field(Decimal(20_000), gt=0, le=Decimal(10**12))
    leverage: int = Field(2, ge=1, le=20)
    entry_threshold_apr: float = Field(0.08, ge=0.0, le=5.0, description="net annualized differential to enter")
    exit_threshold_apr: float = Field(0.01, ge=-1.0, le=5.0)
    holding_days: float = Field(30.0, gt=0.0, le=3650.0)
    funding_lookback_periods: int = Field(21, ge=1, le=1000)

    @model_validator(mode="after")
    def _hysteresis(self) -> S2Settings:
        if self.exit_threshold_apr >= self.entry_threshold_apr:
            raise ValueError("exit_threshold_apr must be below entry_threshold_apr")
        return self


class S3Settings(Section):
    """Spot–dated-futures basis, cash and carry (SPEC S3)."""

    notional_usd: Decimal = Field(Decimal(20_000), gt=0, le=Decimal(10**12))
    leverage: int = Field(2, ge=1, le=20)
    entry_threshold_apr: float = Field(0.08, ge=0.0, le=5.0, description="net annualized basis to enter")
    exit_threshold_apr: float = Field(0.02, ge=-1.0, le=5.0, description="exit early below this basis")
    roll_days_before_expiry: float = Field(8.0, gt=2.0, le=80.0, description="roll before the G4 windows start")
    min_days_to_expiry: float = Field(14.0, gt=0.0, le=400.0, description="no entry into a contract nearer than this")

    @model_validator(mode="after")
    def _coherent(self) -> S3Settings:
        if self.exit_threshold_apr >= self.entry_threshold_apr:
            raise ValueError("exit_threshold_apr must be below entry_threshold_apr")
        if self.min_days_to_expiry <= self.roll_days_before_expiry:
            raise ValueError("min_days_to_expiry must exceed roll_days_before_expiry")
        return self


class AllocationSettings(Section):
    """One allocator sizes every strategy's entries across the venue accounts (``bot.strategies.allocator``)."""

    enabled: bool = Field(True, description="off: each strategy's notional_usd is its entry size")
    strategies: tuple[Literal["s1", "s2", "s3"], ...] = Field(
        ("s1", "s2"), description="whose entries it sizes (S3 keeps its notional_usd: see README, capital)"
    )
    target_deploy_pct: float = Field(0.90, gt=0.0, le=1.0, description="share of each venue's equity to deploy")
    split_reserve_pct: float = Field(
        0.50, ge=0.0, le=5.0, description="split accounts: USDT kept in the spot wallet per perp notional, for top-ups"
    )
    min_entry_usd: float = Field(1_000.0, ge=0.0, description="an entry smaller than this is not sent")


class StrategySettings(Section):
    active: tuple[Literal["s1", "s2", "s3"], ...] = ("s1",)
    allocation: AllocationSettings = AllocationSettings()
    s1: S1Settings = S1Settings()
    s2: S2Settings = S2Settings()
    s3: S3Settings = S3Settings()

    @field_validator("active")
    @classmethod
    def _one_owner(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("name at least one strategy")
        if "s1" in v and "s2" in v:
            raise ValueError("s1 and s2 trade the same perpetuals: run one of them per bot")
        return tuple(dict.fromkeys(v))
