"""Starting the operations side of a run: the metrics/health endpoint and the MQTT bridge, both subscribed to the
bot's event bus."""

from __future__ import annotations

import time
from typing import Any

from bot import logs
from bot.settings import Settings


class PortInUse(OSError):
    """The metrics/health port cannot be bound (another process owns it): start-up stops, naming the setting."""


async def start_ops(settings: Settings, bot: Any) -> Any:
    """Metrics and health on one port. A busy port stops start-up (``PortInUse``): otherwise scrapes and probes
    would reach whatever owns the port and believe it."""
    from bot.telemetry.http import OpsServer
    from bot.telemetry.metrics import Metrics

    metrics = Metrics()
    metrics.instance.info({"bot_id": settings.bot_id, "firm": settings.firm.name if settings.firm.enabled else ""})
    bot.bus.subscribe(metrics)
    metrics.watch(bot.executor, feed=bot.feed if hasattr(bot.feed, "reconnects") else None)
    tel = settings.telemetry

    async def ready() -> dict[str, bool]:
        ex = bot.executor
        store_ok = True if bot.persistence is None else await bot.persistence.store.ping()
        latest = getattr(bot.feed, "latest", None)  # a live stream: every instrument heard from recently
        venues_ok = (
            True
            if latest is None
            else bool(latest) and all(time.time_ns() - x.ts_ns < tel.max_tick_age_secs * 1e9 for x in latest.values())
        )
        return {
            "feed_fresh": time.monotonic() - ex.last_tick_wall < tel.max_tick_age_secs,
            "store": store_ok,
            "venues": venues_ok,
        }

    ops = OpsServer(metrics, ready, tel.host, tel.port)
    try:
        await ops.start()
    except OSError as exc:
        logs.get_logger("carrybot").error("ops.port_unavailable", host=tel.host, port=tel.port, error=str(exc))
        raise PortInUse(
            f"invalid setting telemetry.port (CARRYBOT_TELEMETRY__PORT): {tel.host}:{tel.port} is in use "
            f"({exc.strerror or exc}); choose another port, or 0 for any free one"
        ) from None
    print(f"carrybot: metrics on http://{tel.host}:{ops.port}/metrics", flush=True)
    return ops


def make_bridge(settings: Settings, bot: Any) -> Any:
    """The MQTT bridge for ``bot``: events out (a sink on its bus), signed operator commands in."""
    from bot.telemetry.commands import FIRM, Verifier
    from bot.telemetry.mqtt import MqttBridge, tls_context
    from bot.telemetry.nonces import StoredNonces
    from bot.telemetry.operator import OperatorHandler

    m = settings.mqtt
    assert m.command_secret is not None  # validated with the settings
    p = getattr(bot, "persistence", None)
    # nonces live in the store, where a restart finds them; a run without a store refuses anything signed before
    # it started instead (a command captured before a restart cannot be replayed after it either way)
    nonces = StoredNonces(p.store, settings.bot_id) if p is not None else None
    not_before = None if nonces is not None else int(time.time() * 1000)
    key = m.command_secret.get_secret_value().encode()
    verifier = Verifier(key, m.max_command_age_secs, not_before, settings.bot_id)
    firm_secret = m.firm_command_secret or m.command_secret  # commands to every instance (carrybot/firm/cmd)
    firm = Verifier(firm_secret.get_secret_value().encode(), m.max_command_age_secs, not_before, FIRM)
    bridge = MqttBridge(
        settings.bot_id,
        m.host,
        m.port,
        verifier,
        OperatorHandler(bot.executor, settings.rules_file),
        m.username,
        m.password.get_secret_value() if m.password else None,
        tls_context(m.tls, m.ca_file),
        m.heartbeat_secs,
        nonces=nonces,
        firm_verifier=firm,
    )
    bot.bus.subscribe(bridge)
    return bridge
