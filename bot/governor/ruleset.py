"""The governor's full rule set, in evaluation order."""

from __future__ import annotations

from bot.governor.context import Rule
from bot.governor.crowding import CrowdingRule
from bot.governor.expiry import ExpiryRule
from bot.governor.hygiene import PriceSanity, SpreadVolGate, Staleness, StoreHealth
from bot.governor.ladder import LadderGate, Ladders
from bot.governor.leverage import LeverageRule
from bot.governor.limits import MaxGrossExposure, MaxNetExposure, MaxOrderNotional, OrderFlowLimits, RiskPerPosition
from bot.governor.margin import MarginBufferRule
from bot.governor.rules_config import RulesConfig
from bot.governor.venue_health import VenueHealth, VenueHealthBook


def default_rules(cfg: RulesConfig, ladders: Ladders, venues: VenueHealthBook | None = None) -> tuple[Rule, ...]:
    """The full rule set, in evaluation order (cheap fail-closed checks first; denials stop the evaluation)."""
    return (
        StoreHealth(),
        VenueHealth(cfg.g6, venues or VenueHealthBook()),
        Staleness(cfg.g6),
        PriceSanity(cfg.g6),
        SpreadVolGate(cfg.g6),
        OrderFlowLimits(cfg.g7),
        LadderGate(ladders),
        ExpiryRule(cfg.g4),
        MarginBufferRule(cfg.g2),
        CrowdingRule(cfg.g5),
        MaxOrderNotional(cfg.g7),
        LeverageRule(),
        MaxGrossExposure(cfg.g7),
        MaxNetExposure(cfg.g7),
        RiskPerPosition(cfg.g7, cfg.g2),
    )
