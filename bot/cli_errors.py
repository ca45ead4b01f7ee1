"""Configuration errors for the command line: exit code 2 with a message naming the field."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from bot.errors import ConfigError
from bot.settings import Settings

__all__ = ["ConfigError", "explain", "load_settings", "secrets_of", "unknown_variables"]

PREFIX = "CARRYBOT_"
NOT_SETTINGS = ("CARRYBOT_TEST_", "CARRYBOT_CRASH_")  # the test suite's own variables (tests/README in the README)


def _valid_path(model: type[BaseModel], parts: list[str]) -> bool:
    if not parts:
        return True
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    return _valid_type(field.annotation, parts[1:])


def _valid_type(ann: object, rest: list[str]) -> bool:
    if not rest:
        return True
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return any(_valid_type(a, rest) for a in typing.get_args(ann) if a is not type(None))
    if origin in (dict, Mapping) or ann is dict:
        args = typing.get_args(ann)
        return _valid_type(args[1], rest[1:]) if len(args) == 2 else True
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return _valid_path(ann, rest)
    return False


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``CARRYBOT_*`` variables that name no setting (a misspelled section or field would be ignored otherwise)."""
    env = os.environ if environ is None else environ
    out = []
    for name in env:
        if not name.startswith(PREFIX) or name.startswith(NOT_SETTINGS):
            continue
        parts = name[len(PREFIX) :].lower().split("__")
        if not _valid_path(Settings, parts):
            out.append(name)
    return sorted(out)


def load_settings() -> Settings:
    unknown = unknown_variables()
    if unknown:
        raise ConfigError(
            "\n".join(
                f"unknown setting {n}: no such field (see config/example.env; "
                "`carrybot config check` prints every field)"
                for n in unknown
            )
        )
    try:
        return Settings()
    except SettingsError as exc:  # e.g. a list or mapping that is not JSON: CARRYBOT_STRATEGY__ACTIVE=s2
        raise ConfigError(
            f"invalid setting: {exc} (lists and mappings are JSON, e.g. CARRYBOT_STRATEGY__ACTIVE='[\"s2\"]')"
        ) from None
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
    for url in (settings.db.url, settings.firm.url):  # a database password, wherever a message might quote it
        if url is not None:
            from sqlalchemy.engine import make_url

            try:
                password = make_url(url.get_secret_value()).password
            except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: nothing to redact from it
                continue
            if password:
                out.append(str(password))
    for sec in (settings.mqtt.password, settings.mqtt.command_secret, settings.mqtt.firm_command_secret):
        if sec is not None and sec.get_secret_value():
            out.append(sec.get_secret_value())
    return out


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (``__cause__``/``__context__``, a DBAPI error's ``orig``), outermost first."""
    out: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
    return out


def explain(exc: BaseException) -> tuple[int, str]:
    """An exit code (2: configuration or input, 1: something failed at run time) and one line for the user."""
    import errno
    import socket

    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    first = chain[0]
    for e in chain:
        if isinstance(e, ConfigError):
            return 2, str(e)
    from bot.feeds.bars import DataFileError
    from bot.governor.rules_config import RulesError
    from bot.store.run_lock import RunLocked
    from bot.telemetry.wiring import PortInUse

    for e in chain:
        if isinstance(e, RunLocked | PortInUse):
            return 2, str(e)
        if isinstance(e, DataFileError):
            return 2, f"invalid data: {e}"
        if isinstance(e, RulesError):
            return 2, "\n".join(f"invalid rules {e.path}: {f}: {m}" for f, m in e.problems)
    db = "the store (CARRYBOT_DB__URL)"
    if "InvalidPasswordError" in names or "InvalidAuthorizationSpecificationError" in names:
        return 2, f"{db} refused the login: wrong user or password"
    if "InvalidCatalogNameError" in names:
        return 2, f"{db}: the database does not exist; create it (createdb) or fix the URL"
    if names & {"NetworkError", "ExchangeNotAvailable", "RequestTimeout", "DDoSProtection"}:
        return 1, (
            f"cannot reach the venue: {str(first).splitlines()[0][:200]} (live data needs network access "
            "to the exchange)"
        )
    for e in chain:
        if isinstance(e, socket.gaierror):
            return 1, f"cannot resolve a host name ({e.strerror}): check CARRYBOT_DB__URL, CARRYBOT_MQTT__HOST"
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return (
                1,
                f"disk full: {getattr(e, 'filename', None) or 'writing state'}; free space, then restart "
                "(the run resumes where its store left off)",
            )
    if "MqttError" in names or "MqttCodeError" in names:
        return 1, "cannot reach the MQTT broker (CARRYBOT_MQTT__HOST / __PORT / credentials): " + str(
            next(e for e in chain if type(e).__name__.startswith("Mqtt"))
        )
    for e in chain:
        if isinstance(e, ConnectionRefusedError | TimeoutError) or (
            isinstance(e, OSError) and e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)
        ):
            return 1, f"connection refused or timed out ({e}): is {db} or the broker running?"
    if names & {"OperationalError", "InterfaceError"}:
        return 1, f"{db} failed: {str(first).splitlines()[0][:300]}"
    for e in chain:
        if isinstance(e, FileNotFoundError):
            return 2, f"no such file: {e.filename}"
    return (
        1,
        f"internal error: {type(first).__name__}: {str(first).splitlines()[0][:300] if str(first) else ''} "
        "(rerun with --debug for the traceback, and please report it)",
    )
