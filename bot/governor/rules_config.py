"""The rules file model (``rules/default.yaml``): every governor threshold, validated at load.

Unknown keys and out-of-range values are rejected; ``load_rules`` reports every problem at once, each naming
its field (``g7.max_daily_loss_pct``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class G6Config(_Section):
    """Execution hygiene: fail closed on stale or insane prices."""

    max_snapshot_age_secs: float = Field(120.0, gt=0, le=86_400)
    price_band_pct: float = Field(0.02, gt=0, le=0.5, description="mark vs index vs last must agree within this")


class G7Config(_Section):
    """Hard limits."""

    max_order_notional_usd: float = Field(60_000, gt=0)
    max_gross_venue_usd: float = Field(250_000, gt=0)
    max_gross_total_usd: float = Field(600_000, gt=0)
    max_daily_loss_pct: float = Field(0.02, gt=0, le=1, description="of start-of-UTC-day equity: then REDUCING")
    max_drawdown_pct: float = Field(0.10, gt=0, le=1, description="from peak equity: then HALTED")
    min_resize_scale: float = Field(0.05, ge=0, le=1, description="a resize below this share of the intent rejects")

    @model_validator(mode="after")
    def _coherent(self) -> G7Config:
        if self.max_gross_venue_usd > self.max_gross_total_usd:
            raise ValueError("max_gross_venue_usd cannot exceed max_gross_total_usd")
        if self.max_daily_loss_pct > self.max_drawdown_pct:
            raise ValueError("max_daily_loss_pct cannot exceed max_drawdown_pct")
        return self


class G8Config(_Section):
    flatten_on_halt: bool = True


class RulesConfig(_Section):
    version: Literal[1] = 1
    g6: G6Config = G6Config()
    g7: G7Config = G7Config()
    g8: G8Config = G8Config()


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
