"""Configuration errors for the command line: exit code 2 with a message naming the field."""

from __future__ import annotations

from pydantic import ValidationError

from bot.settings import Settings


class ConfigError(Exception):
    pass


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            env = "CARRYBOT_" + "__".join(p.upper() for p in loc)
            lines.append(f"invalid setting {'.'.join(loc) or '<root>'} ({env}): {e['msg']}")
        raise ConfigError("\n".join(lines)) from exc




def secrets_of(settings: Settings) -> list[str]:
    """Every configured secret value, for the log redactor."""
    out = []
    for cred in settings.exchanges.values():
        for sec in (cred.api_key, cred.secret, cred.password):
            if sec is not None and sec.get_secret_value():
                out.append(sec.get_secret_value())
    return out
