"""``carrybot cmd``: sign an operator command, publish it, print the bot's reply."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bot.cli_errors import ConfigError, load_settings


def cmd_cmd(args: argparse.Namespace) -> int:
    """Sign and send an operator command; print the bot's reply."""
    import aiomqtt

    from bot.telemetry.commands import COMMANDS, sign
    from bot.telemetry.mqtt import tls_context

    settings = load_settings()
    m = settings.mqtt
    secret = m.command_secret
    if secret is None:
        raise ConfigError("invalid setting mqtt.command_secret (CARRYBOT_MQTT__COMMAND_SECRET): required to sign")
    if args.name not in COMMANDS:
        raise ConfigError(f"unknown command {args.name!r}: one of {', '.join(COMMANDS)}")
    try:
        cmd_args = json.loads(args.args) if args.args else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid --args: not JSON ({exc.msg} at column {exc.colno}); e.g. --args '{{\"fraction\": 0.5}}'"
        ) from None
    if not isinstance(cmd_args, dict):
        raise ConfigError("invalid --args: a JSON object, e.g. --args '{\"fraction\": 0.5}'")
    base = f"carrybot/{settings.bot_id}"

    async def go() -> dict[str, Any] | None:
        import secrets as _secrets

        nonce = _secrets.token_hex(12)
        raw = sign(args.name, secret.get_secret_value().encode(), int(time.time() * 1000), cmd_args, nonce)
        async with aiomqtt.Client(
            m.host,
            m.port,
            username=args.user or m.username,
            password=args.password or (m.password.get_secret_value() if m.password else None),
            identifier=f"carrybot-cmd-{nonce[:8]}",
            tls_context=tls_context(m.tls, m.ca_file),  # the same TLS as the bot's (it used to be ignored here)
        ) as client:
            await client.subscribe(f"{base}/cmd/reply", qos=1)
            await client.publish(f"{base}/cmd", raw, qos=1)
            async with asyncio.timeout(args.timeout):
                async for msg in client.messages:
                    if not isinstance(msg.payload, (bytes, bytearray, str)):
                        continue
                    reply = json.loads(msg.payload)
                    if isinstance(reply, dict) and reply.get("nonce") == nonce:
                        return reply
        return None

    try:
        reply = asyncio.run(go())
    except TimeoutError:
        print("no reply", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0 if reply and reply.get("ok") else 1
