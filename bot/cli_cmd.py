"""``carrybot cmd``: sign an operator command, publish it, print the bot's reply — or, with ``--firm``, send it to every
instance at once (``carrybot/firm/cmd``) and collect their replies: each instance that says it is online (its retained
``status``) is waited for until ``--timeout``."""

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

    from bot.telemetry.commands import COMMANDS, FIRM, FIRM_COMMANDS, sign
    from bot.telemetry.mqtt import tls_context

    settings = load_settings()
    m = settings.mqtt
    secret = (m.firm_command_secret or m.command_secret) if args.firm else m.command_secret
    if secret is None:
        raise ConfigError("invalid setting mqtt.command_secret (CARRYBOT_MQTT__COMMAND_SECRET): required to sign")
    allowed = FIRM_COMMANDS if args.firm else COMMANDS
    if args.name not in allowed:
        scope = "to the firm" if args.firm else ""
        raise ConfigError(f"unknown command {args.name!r} {scope}: one of {', '.join(allowed)}".replace("  ", " "))
    try:
        cmd_args = json.loads(args.args) if args.args else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid --args: not JSON ({exc.msg} at column {exc.colno}); e.g. --args '{{\"fraction\": 0.5}}'"
        ) from None
    if not isinstance(cmd_args, dict):
        raise ConfigError("invalid --args: a JSON object, e.g. --args '{\"fraction\": 0.5}'")
    to = FIRM if args.firm else settings.bot_id
    base = f"carrybot/{to}"

    async def go() -> dict[str, Any] | None:
        import secrets as _secrets

        nonce = _secrets.token_hex(12)
        raw = sign(args.name, secret.get_secret_value().encode(), int(time.time() * 1000), cmd_args, nonce, to)
        async with aiomqtt.Client(
            m.host,
            m.port,
            username=args.user or m.username,
            password=args.password or (m.password.get_secret_value() if m.password else None),
            identifier=f"carrybot-cmd-{nonce[:8]}",
            tls_context=tls_context(m.tls, m.ca_file),  # the same TLS as the bot's (it used to be ignored here)
        ) as client:
            if args.firm:
                return await _collect(client, raw, nonce, args.timeout)
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
    if args.firm:
        return 0 if reply and reply["replies"] and not reply["missing"] and reply["all_ok"] else 1
    return 0 if reply and reply.get("ok") else 1


async def _collect(client: Any, raw: bytes, nonce: str, timeout: float) -> dict[str, Any]:
    """Publish a firm-wide command; gather the replies (by bot id) until every instance whose retained status says
    online has answered, or ``timeout``."""
    online: set[str] = set()
    replies: dict[str, dict[str, Any]] = {}
    await client.subscribe("carrybot/+/status", qos=1)
    await client.subscribe("carrybot/+/cmd/reply", qos=1)
    await client.publish("carrybot/firm/cmd", raw, qos=1)
    try:
        async with asyncio.timeout(timeout):
            async for msg in client.messages:
                parts = str(msg.topic).split("/")
                if not isinstance(msg.payload, (bytes, bytearray, str)) or len(parts) < 3:
                    continue
                body = msg.payload.decode() if isinstance(msg.payload, (bytes, bytearray)) else msg.payload
                if parts[2] == "status":
                    (online.add if body == "online" else online.discard)(parts[1])
                    continue
                try:
                    reply = json.loads(body)
                except ValueError:
                    continue
                if isinstance(reply, dict) and reply.get("nonce") == nonce:
                    replies[parts[1]] = reply
                    if online <= set(replies):
                        break
    except TimeoutError:
        pass
    return {
        "to": "firm",
        "nonce": nonce,
        "online": sorted(online),
        "replies": replies,
        "missing": sorted(online - set(replies)),
        "all_ok": all(r.get("ok") for r in replies.values()),
    }
