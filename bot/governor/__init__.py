"""The risk governor: the only door between intents and venues (SPEC §3)."""

from bot.governor.engine import Governor
from bot.governor.rules_config import RulesConfig, RulesError, load_rules

__all__ = ["Governor", "RulesConfig", "RulesError", "load_rules"]
