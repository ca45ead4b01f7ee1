"""MQTT bridge (aiomqtt): events out, signed operator commands in, answered on a reply topic.

Topics under ``carrybot/<bot_id>/``: ``status`` (retained ``online``; the broker publishes the last-will ``offline`` if
the bot vanishes, and the bot publishes ``offline`` itself on a clean shutdown), ``heartbeat``,
``events/{fills,decisions,ladder,state,funding}``, ``cmd`` (in) and ``cmd/reply`` (out). Every instance also listens on
``carrybot/firm/cmd``, where a command addressed to the whole firm (``to: firm``, its own key when one is set) reaches
them all; each answers on its own ``cmd/reply``, naming itself. The bridge runs beside the
trading loop and reconnects with jittered backoff; while the broker is down, trading goes on and events wait in a
bounded queue (the oldest are dropped, and counted, when it is full).

Nothing a message carries can stop the bridge: verification answers every input with a code, a handler that fails
is replied to as ``internal_error``, and any other failure of the loop is logged, counted and followed by a fresh
connection. Accepted nonces are written to the store (``nonces``) before the command acts, and loaded at start, so
a command captured before a restart is refused after it; if that write fails, only commands that reduce risk
(``halt``, ``flatten``, ``pause``, ``reduce``, ``status``) still act.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiomqtt

from bot.decisions import LadderEvent, StateTransition
from bot.domain import Fill, FundingPayment, TransferUpdate
from bot.events import DecisionMade, Event, PositionMismatch, TransferDecided
from bot.feeds.guard import SuspectPrint
from bot.logs import get_logger
from bot.retry import Backoff
from bot.telemetry.commands import FIRM, Command, CommandError, Verifier

log = get_logger(__name__)
Handler = Callable[[Command], Awaitable[dict[str, Any]]]
SAFE_WITHOUT_STORE = frozenset({"halt", "flatten", "pause", "reduce", "status"})
FIRM_TOPIC = f"carrybot/{FIRM}/cmd"


class NonceStore(Protocol):
    async def load(self, now_ms: int) -> Mapping[str, int]: ...

    async def add(self, nonce: str, seen_ms: int, expires_ms: int) -> None: ...


def event_payload(event: Event) -> tuple[str, dict[str, Any]] | None:
    """(topic kind, JSON-ready payload) of an event MQTT carries, else None."""
    if isinstance(event, DecisionMade):
        d = event.decision
        return "decisions", {
            "decision_id": d.decision_id,
            "outcome": d.outcome.value,
            "rules": list(d.rules),
            "codes": [h.code.value for h in d.hits],
            "scale": d.scale,
            "origin": d.intent.origin.value,
            "ts_ns": d.ts_ns,
        }
    if isinstance(event, TransferDecided):
        td = event.decision
        return "decisions", {
            "decision_id": td.decision_id,
            "outcome": td.outcome.value,
            "rules": list(td.rules),
            "codes": [h.code.value for h in td.hits],
            "kind": "transfer",
            "origin": td.intent.origin.value,
            "ts_ns": td.ts_ns,
        }
    if isinstance(event, TransferUpdate):
        return "transfers", {
            "venue": event.venue,
            "transfer_id": event.transfer_id,
            "status": event.status.value,
            "asset": event.asset,
            "amount": str(event.amount),
            "from": event.from_wallet,
            "to": event.to_wallet,
            "instrument": event.instrument_id,
            "reason": event.reason,
            "ts_ns": event.ts_ns,
        }
    if isinstance(event, Fill):
        return "fills", {
            "venue": event.venue,
            "instrument": event.instrument_id,
            "side": event.side.value,
            "qty": str(event.qty),
            "price": str(event.price),
            "fee": str(event.fee),
            "liquidation": event.is_liquidation,
            "ts_ns": event.ts_ns,
        }
    if isinstance(event, FundingPayment):
        return "funding", {
            "venue": event.venue,
            "instrument": event.instrument_id,
            "amount": str(event.amount),
            "rate": str(event.rate),
            "ts_ns": event.ts_ns,
        }
    if isinstance(event, StateTransition):
        return "state", {
            "from": event.from_state.value,
            "to": event.to_state.value,
            "rule": event.rule,
            "code": event.code.value if event.code else None,
            "ts_ns": event.ts_ns,
            **{k: v for k, v in event.inputs.items() if k == "reason"},
        }
    if isinstance(event, LadderEvent):
        return "ladder", {
            "key": event.key,
            "measure": event.measure,
            "from": event.from_stage,
            "to": event.to_stage,
            "ts_ns": event.ts_ns,
        }
    if isinstance(event, SuspectPrint):
        return "guard", {
            "instrument": event.instrument_id,
            "price": event.price,
            "trusted": event.trusted,
            "reference": event.reference,
            "reason": event.reason,
            "ts_ns": event.ts_ns,
        }
    if isinstance(event, PositionMismatch):
        return "state", {
            "watchdog": "position_mismatch",
            "instrument": event.instrument_id,
            "ledger": str(event.ledger_qty),
            "venue": str(event.venue_qty),
            "ts_ns": event.ts_ns,
        }
    return None


def tls_context(tls: bool, ca_file: Path | None = None) -> ssl.SSLContext | None:
    """The TLS the bot's bridge and ``carrybot cmd`` both use: none, the system's store, or ``ca_file``'s CA
    (the stack's own, made by deploy/init-secrets.sh); the broker's name is checked either way."""
    if not tls:
        return None
    return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)


class MqttBridge:
    def __init__(
        self,
        bot_id: str,
        host: str,
        port: int,
        verifier: Verifier,
        handler: Handler,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        heartbeat_secs: float = 5.0,
        queue_size: int = 10_000,
        nonces: NonceStore | None = None,
        firm_verifier: Verifier | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.base = f"carrybot/{bot_id}"
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._tls = tls
        self._verifier = verifier
        self._firm_verifier = firm_verifier
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
        self.failures = 0  # loop failures other than the broker's (each followed by a fresh connection)
        self._nonces = nonces
        self._seeded = nonces is None

    # --- called by the bot ------------------------------------------------------------------------------------------
    def event(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue an event for ``events/<kind>``; never blocks the trading loop."""
        self._put(f"{self.base}/events/{kind}", json.dumps(payload, default=str).encode(), False)

    def handle(self, event: Event) -> None:
        """A sink on the event bus: the events operators follow, as JSON on ``events/<kind>``."""
        out = event_payload(event)
        if out is not None:
            self.event(*out)

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
        backoff = Backoff(0.5, cap=10.0)
        while not self._stop.is_set():
            if not self._seeded:  # the nonces a previous process accepted: a replay after a restart is refused
                try:
                    assert self._nonces is not None
                    seen = await self._nonces.load(int(time.time() * 1000))
                    for v in (self._verifier, self._firm_verifier):
                        if v is not None:
                            v.nonces.seed(seen)
                    self._seeded = True
                except Exception as exc:  # noqa: BLE001 - without them no command acts (see _accept)
                    log.error("mqtt.nonces_unavailable", error=type(exc).__name__)
            will = aiomqtt.Will(f"{self.base}/status", b"offline", qos=1, retain=True)
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    username=self._username,
                    password=self._password,
                    identifier=f"{self.base.replace('/', '-')}",
                    will=will,
                    tls_context=self._tls,
                    keepalive=10,
                ) as client:
                    self._client = client
                    self.connected = True
                    backoff.reset()
                    await client.publish(f"{self.base}/status", b"online", qos=1, retain=True)
                    await client.subscribe(f"{self.base}/cmd", qos=1)
                    if self._firm_verifier is not None:
                        await client.subscribe(FIRM_TOPIC, qos=1)
                    log.info("mqtt.connected", host=self._host, port=self._port)
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._publisher(client), name="mqtt-publisher")
                        tg.create_task(self._heartbeats(), name="mqtt-heartbeat")
                        tg.create_task(self._commands(client), name="mqtt-commands")
                        tg.create_task(self._until_stopped(), name="mqtt-stop")
            except* _Stopped:
                pass
            except* aiomqtt.MqttError as eg:
                log.warning("mqtt.disconnected", error=type(eg.exceptions[0]).__name__)
            except* Exception as eg:  # anything else: log, count, reconnect; the command channel must stay up
                self.failures += 1
                log.error("mqtt.loop_failed", error=type(eg.exceptions[0]).__name__, detail=str(eg.exceptions[0])[:200])
            self.connected = False
            self._client = None
            if self._stop.is_set():
                return
            self.reconnects += 1
            await backoff.wait()

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
            _honour_cancel()

    async def _heartbeats(self) -> None:
        while True:
            self._put(f"{self.base}/heartbeat", json.dumps({"ts": time.time()}).encode(), False)
            await asyncio.sleep(self._heartbeat)

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            try:
                await self.handle_command(msg.payload, firm=msg.topic.matches(FIRM_TOPIC))
            except Exception as exc:  # noqa: BLE001 - one message must never take the command channel down
                self._reject("internal_error", None)
                log.error("mqtt.command_failed", error=type(exc).__name__)

    async def handle_command(self, payload: object, firm: bool = False) -> None:
        """One message on ``cmd`` (or the firm's): verified, then acted upon and answered, or rejected and
        answered."""
        raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode("utf-8", "replace")
        now_ms = int(time.time() * 1000)
        verifier = self._firm_verifier if firm else self._verifier
        if verifier is None:
            return
        try:
            cmd = verifier.verify(bytes(raw), now_ms)
        except CommandError as exc:
            self._reject(exc.code.value, exc.nonce)
            return
        if not await self._accept(cmd, now_ms):
            return
        self.accepted += 1
        log.info("mqtt.command", cmd=cmd.cmd)
        try:
            result = await self._handler(cmd)
        except Exception as exc:  # noqa: BLE001 - a failing command must not take the bridge down
            log.error("mqtt.command_failed", cmd=cmd.cmd, error=type(exc).__name__)
            result = {"ok": False, "code": "internal_error", "error": type(exc).__name__}
        self._reply({"nonce": cmd.nonce, "cmd": cmd.cmd} | result | ({"to": FIRM} if firm else {}))

    async def _accept(self, cmd: Command, now_ms: int) -> bool:
        """Keep the nonce where a restart finds it; without that only risk-reducing commands act."""
        if self._nonces is None:
            return True
        try:
            if not self._seeded:
                raise RuntimeError("nonces not loaded")
            await self._nonces.add(cmd.nonce, now_ms, now_ms + self._verifier.nonces.keep_ms)
            return True
        except Exception as exc:  # noqa: BLE001 - the store is down or unreadable
            log.error("mqtt.nonce_not_kept", cmd=cmd.cmd, error=type(exc).__name__)
            if cmd.cmd in SAFE_WITHOUT_STORE:
                return True
            self._reject("store_down", cmd.nonce)
            return False

    def _reject(self, code: str, nonce: str | None) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1
        log.warning("mqtt.command_rejected", code=code)
        self._reply({"ok": False, "code": code, "nonce": nonce})

    def _reply(self, body: dict[str, Any]) -> None:
        body = body | {"bot_id": self.bot_id}  # a firm-wide command's replies are told apart by who sent them
        self._put(f"{self.base}/cmd/reply", json.dumps(body, default=str).encode(), False)

    def _put(self, topic: str, payload: bytes, retain: bool) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait((topic, payload, retain))


class _Stopped(Exception):
    pass


def _honour_cancel() -> None:
    """Raise the cancellation an await swallowed. aiomqtt waits with ``asyncio.wait_for``, which on Python 3.11
    returns the result and drops a cancel that arrives as the publish completes; the publisher then waited on its
    queue for ever in state "cancelling" and the bot never exited after SIGTERM (found in the MQTT test, ~1 run in
    3 on a loaded machine)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
