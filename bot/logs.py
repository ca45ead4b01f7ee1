"""structlog set-up: readable on a terminal, JSON when not a TTY (containers) or when configured.

Secrets never reach a log line: values of keys that look like credentials are masked, and the known secret
values (API keys, passwords) are scrubbed from every string that is logged, wherever they appear.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

MASK = "**********"
_SECRET_KEY = re.compile(r"(secret|password|passwd|api_?key|token|signature|hmac)", re.IGNORECASE)


class SecretRedactor:
    """structlog processor that masks credential-looking keys and scrubs known secret values."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: MASK if _SECRET_KEY.search(str(k)) else self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if _SECRET_KEY.search(key):
                event_dict[key] = MASK
            else:
                event_dict[key] = self._scrub(event_dict[key])
        return event_dict


def configure(level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Configure structlog once for the process."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_strict_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            SecretRedactor(secrets),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _strict_json(obj: Any, **kw: Any) -> str:
    """Valid JSON on every line: NaN becomes null and infinities strings (json.dumps would write bare NaN)."""
    try:
        return json.dumps(obj, allow_nan=False, **kw)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, **kw)
