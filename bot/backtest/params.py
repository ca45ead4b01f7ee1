"""Parameter overrides for backtests and sweeps: ``strategy.s1.entry_threshold_apr=0.1`` → validated settings.

Values are parsed as YAML scalars (numbers, booleans, dates, lists); the whole settings model is re-validated, so a
bad value fails with the field named, exactly as from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.settings import Settings


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid --set {item!r}: expected section.field=value")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid --set {key}: {exc}") from exc
    return out


def with_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    if not overrides:
        return settings
    data = settings.model_dump()
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"invalid setting {dotted}: no section {p!r}")
            node = node[p]
        if parts[-1] not in node:
            raise ConfigError(f"invalid setting {dotted}: no field {parts[-1]!r}")
        node[parts[-1]] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"invalid setting {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from exc
