"""The command channel cannot be killed or fooled (issue: fail safe): poison inputs get a code, a failing handler a
reply, a rejected command changes nothing, HALTED is left only by resume, nonces outlive a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.assembly import build_bot
from bot.decisions import TradingState
from bot.governor.rules_config import load_rules
from bot.settings import Settings
from bot.store import Store, sqlite_url
from bot.telemetry.commands import MAX_PAYLOAD_BYTES, Command, CommandError, Reject, Verifier, canonical, sign
from bot.telemetry.mqtt import MqttBridge
from bot.telemetry.nonces import StoredNonces
from bot.telemetry.operator import OperatorHandler

SECRET = b"operator-shared-secret-0123456789"
NOW = 1_800_000_000_000


def _resigned(body: dict) -> bytes:
    import hashlib
    import hmac

    body["sig"] = hmac.new(SECRET, canonical(body), hashlib.sha256).hexdigest()
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "raw, code",
    [
        (json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"sig": "é" * 64}).encode(), Reject.BAD_FIELD),  # TypeError
        (b'{"cmd": "halt", "args": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", Reject.TOO_LARGE),
        (b'{"cmd": "halt", "args": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", Reject.MALFORMED_JSON),  # RecursionError
        (
            _resigned(
                {
                    "cmd": "reduce",
                    "args": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}},
                    "ts": NOW,
                    "nonce": "n-deep-000001",
                }
            ),
            Reject.MALFORMED_JSON,
        ),
        (sign("halt", SECRET, NOW, {"blob": "x" * (20 * 1024 * 1024)}), Reject.TOO_LARGE),  # a 20 MiB signed command
        (json.dumps(json.loads(sign("halt", SECRET, NOW)) | {"nonce": "ä" * 12}).encode(), Reject.BAD_FIELD),
    ],
)
def test_poison_payloads_get_a_code_and_nothing_else(raw: bytes, code: Reject) -> None:
    with pytest.raises(CommandError) as exc:
        Verifier(SECRET).verify(raw, NOW)
    assert exc.value.code is code
    assert len(b'{"cmd": "halt", "args": ' + b"[" * 5_000 + b"]" * 5_000 + b"}") < MAX_PAYLOAD_BYTES


def test_commands_signed_before_the_bot_started_are_stale_without_a_store() -> None:
    v = Verifier(SECRET, not_before_ms=NOW)
    with pytest.raises(CommandError) as exc:
        v.verify(sign("resume", SECRET, NOW - 5_000), NOW + 1_000)
    assert exc.value.code is Reject.STALE_TIMESTAMP
    assert v.verify(sign("resume", SECRET, NOW + 500), NOW + 1_000).cmd == "resume"


def _bot(tmp_path: Path):
    s = Settings(_env_file=None, data_dir=tmp_path, replay={"start": "2024-02-01", "end": "2024-02-10"})
    return build_bot(s, load_rules(None))


@pytest.mark.parametrize("fraction", [float("nan"), float("inf"), 1e308, -1, 0, "nan", [0.5], True, None, "0.5"])
def test_a_rejected_reduce_changes_nothing(tmp_path: Path, fraction) -> None:
    bot = _bot(tmp_path)
    h = OperatorHandler(bot.executor, None)
    r = asyncio.run(h(Command("reduce", {"fraction": fraction}, NOW, "n-00000001")))
    assert r == {"ok": False, "code": "bad_args", "field": "fraction", "expected": "a number in (0, 1]"}
    assert bot.governor.trading_state is TradingState.ACTIVE and not bot.executor.operator_intents


def test_unknown_arguments_are_refused_before_anything_happens(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    r = asyncio.run(OperatorHandler(bot.executor, None)(Command("halt", {"force": True}, NOW, "n-00000002")))
    assert r["code"] == "bad_args" and bot.governor.trading_state is TradingState.ACTIVE


def test_pause_and_reduce_never_loosen_halted_only_resume_leaves_it(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    h = OperatorHandler(bot.executor, None)
    asyncio.run(h(Command("halt", {}, NOW, "n-00000003")))
    for name, args in (("pause", {}), ("reduce", {"fraction": 0.5})):
        r = asyncio.run(h(Command(name, args, NOW, "n-00000004")))
        assert r["ok"] and r["state"] == "halted" and bot.governor.trading_state is TradingState.HALTED
    assert asyncio.run(h(Command("resume", {}, NOW, "n-00000005")))["state"] == "active"


class _Boom:
    async def __call__(self, cmd: Command) -> dict:
        raise RuntimeError("handler bug")


def _bridge(handler, nonces=None) -> MqttBridge:
    return MqttBridge("b1", "127.0.0.1", 1, Verifier(SECRET, 30.0), handler, nonces=nonces)


def _replies(b: MqttBridge) -> list[dict]:
    out = []
    while not b._queue.empty():
        topic, payload, _ = b._queue.get_nowait()
        if topic.endswith("cmd/reply"):
            out.append(json.loads(payload))
    return out


def test_a_failing_handler_is_answered_and_the_channel_goes_on() -> None:
    import time

    b = _bridge(_Boom())
    now = int(time.time() * 1000)
    asyncio.run(b.handle_command(sign("status", SECRET, now)))
    asyncio.run(b.handle_command("not bytes at all: ünïcode"))
    replies = _replies(b)
    assert replies[0]["code"] == "internal_error" and replies[1]["code"] == "malformed_json"


def test_a_command_replayed_after_a_restart_is_refused(tmp_path: Path) -> None:
    """Two bridges over two Store instances on one database file: the second is the restarted process."""
    import time

    async def scenario() -> list[dict]:
        url = sqlite_url(tmp_path)
        first = Store(url)
        await first.upgrade()

        async def ok(cmd: Command) -> dict:
            return {"ok": True}

        raw = sign("resume", SECRET, int(time.time() * 1000))
        a = _bridge(ok, StoredNonces(first, "b1"))
        a._verifier.nonces.seed(await a._nonces.load(int(time.time() * 1000)))  # as run() does on connecting
        a._seeded = True
        await a.handle_command(raw)
        await first.close()
        second = Store(url)
        b = _bridge(ok, StoredNonces(second, "b1"))
        b._verifier.nonces.seed(await b._nonces.load(int(time.time() * 1000)))
        b._seeded = True
        await b.handle_command(raw)
        await b.handle_command(sign("status", SECRET, int(time.time() * 1000)))
        await second.close()
        return _replies(a) + _replies(b)

    first, replayed, fresh = asyncio.run(scenario())
    assert first["ok"] and replayed["code"] == "replayed_nonce" and fresh["ok"]


def test_with_the_store_down_only_risk_reducing_commands_act() -> None:
    import time

    class Down:
        async def load(self, now_ms: int) -> dict:
            return {}

        async def add(self, nonce: str, seen_ms: int, expires_ms: int) -> None:
            raise OSError("disk I/O error")

    acted: list[str] = []

    async def handler(cmd: Command) -> dict:
        acted.append(cmd.cmd)
        return {"ok": True}

    b = _bridge(handler, Down())
    b._seeded = True
    now = int(time.time() * 1000)
    for name in ("resume", "halt", "reload-rules", "flatten"):
        asyncio.run(b.handle_command(sign(name, SECRET, now)))
    assert acted == ["halt", "flatten"]
    assert [r.get("code") for r in _replies(b)] == ["store_down", None, "store_down", None]
