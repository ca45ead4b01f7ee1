"""MQTT bridge (aiomqtt): events out, signed operator commands in, answered on a reply topic.

Topics under ``carrybot/<bot_id>/``: ``status`` (retained ``online``; the broker publishes the last-will ``offline`` if
the bot vanishes, and the bot publishes ``offline`` itself on a clean shutdown), ``heartbeat``,
``events/{fills,decisions,ladder,state,funding}``, ``cmd`` (in) and ``cmd/reply`` (out). The bridge runs beside the
trading loop and reconnects with jittered backoff; while the broker is down, trading goes on and events wait in a
bounded queue (the oldest are dropped, and counted, when it is full).
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from bot.logs import get_logger
from bot.telemetry.commands import Command, CommandError, Verifier

log = get_logger(__name__)
Handler = Callable[[Command], Awaitable[dict[str, Any]]]


class MqttBridge:
    def __init__(self, bot_id: str, host: str, port: int, verifier: Verifier, handler: Handler,
                 username: str | None = None, password: str | None = None, tls: bool = False,
                 heartbeat_secs: float = 5.0, queue_size: int = 10_000) -> None:
        self.base = f"carrybot/{bot_id}"
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._tls = ssl.create_default_context() if tls else None
        self._verifier = verifier
        self._handler = handler
        self._heartbeat = heartbeat_secs
        self._queue: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue(maxsize=queue_size)
        self._stop = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self.connected = False
        self.dropped = 0
        self.rejected: dict[str, int] = {}
        self.accepted = 0
        self.reconnects = 0

    # --- called by the bot ------------------------------------------------------------------------------------------
    def event(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue an event for ``events/<kind>``; never blocks the trading loop."""
        self._put(f"{self.base}/events/{kind}", json.dumps(payload, default=str).encode(), False)

    async def stop(self) -> None:
        """Say ``offline`` (retained) and leave."""
        self._stop.set()
        if self._client is not None and self.connected:
            try:
                await self._client.publish(f"{self.base}/status", b"offline", qos=1, retain=True)
            except aiomqtt.MqttError:
                pass

    # --- the connection ---------------------------------------------------------------------------------------------
    async def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            will = aiomqtt.Will(f"{self.base}/status", b"offline", qos=1, retain=True)
            try:
                async with aiomqtt.Client(self._host, self._port, username=self._username, password=self._password,
                                          identifier=f"{self.base.replace('/', '-')}", will=will,
                                          tls_context=self._tls, keepalive=10) as client:
                    self._client = client
                    self.connected = True
                    backoff = 0.5
                    await client.publish(f"{self.base}/status", b"online", qos=1, retain=True)
                    await client.subscribe(f"{self.base}/cmd", qos=1)
                    log.info("mqtt.connected", host=self._host, port=self._port)
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._publisher(client), name="mqtt-publisher")
                        tg.create_task(self._heartbeats(), name="mqtt-heartbeat")
                        tg.create_task(self._commands(client), name="mqtt-commands")
                        tg.create_task(self._until_stopped(), name="mqtt-stop")
            except* aiomqtt.MqttError as eg:
                log.warning("mqtt.disconnected", error=type(eg.exceptions[0]).__name__)
            except* _Stopped:
                pass
            self.connected = False
            self._client = None
            if self._stop.is_set():
                return
            self.reconnects += 1
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 10.0)

    async def _until_stopped(self) -> None:
        await self._stop.wait()
        raise _Stopped

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await self._queue.get()
            try:
                await client.publish(topic, payload, qos=0, retain=retain)
            except aiomqtt.MqttError:
                self._put(topic, payload, retain)  # keep it for the next connection
                raise

    async def _heartbeats(self) -> None:
        while True:
            self._put(f"{self.base}/heartbeat", json.dumps({"ts": time.time()}).encode(), False)
            await asyncio.sleep(self._heartbeat)

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            raw = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            try:
                cmd = self._verifier.verify(raw, int(time.time() * 1000))
            except CommandError as exc:
                self.rejected[exc.code.value] = self.rejected.get(exc.code.value, 0) + 1
                log.warning("mqtt.command_rejected", code=exc.code.value)
                self._reply({"ok": False, "code": exc.code.value, "nonce": exc.nonce})
                continue
            self.accepted += 1
            log.info("mqtt.command", cmd=cmd.cmd)
            try:
                result = await self._handler(cmd)
            except Exception as exc:  # noqa: BLE001 - a failing command must not take the bridge down
                result = {"ok": False, "code": "failed", "error": type(exc).__name__}
            self._reply({"nonce": cmd.nonce, "cmd": cmd.cmd} | result)

    def _reply(self, body: dict[str, Any]) -> None:
        self._put(f"{self.base}/cmd/reply", json.dumps(body, default=str).encode(), False)

    def _put(self, topic: str, payload: bytes, retain: bool) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait((topic, payload, retain))


class _Stopped(Exception):
    pass
