"""Firm-wide commands on a real Mosquitto with the stack's ACL rules: one signed ``halt`` addressed to the firm
reaches every instance, each replies, and ``carrybot cmd --firm`` collects the replies; a bot's account cannot
command the firm (the broker drops it), and a command signed for one bot is refused on the firm's topic."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from bot.telemetry.commands import sign
from tests.telemetry.test_mqtt import Broker

pytestmark = pytest.mark.campaign  # two bot processes: a step of its own in .ci/run
SECRET = "mqtt-command-secret-7d1f3a9b"
FIRM_SECRET = "firm-command-secret-41c9e2aa"
PW = {"b1": "pw-b1-0a1", "b2": "pw-b2-9f3", "operator": "op-pw-77ae"}
ROOT = Path(__file__).resolve().parents[2]


def _acl() -> str:
    """deploy/mosquitto/acl's rules, for two instances (accounts b1, b2) instead of the stack's one."""
    deployed = (ROOT / "deploy" / "mosquitto" / "acl").read_text()
    assert "pattern read carrybot/firm/cmd" in deployed and "topic write carrybot/+/cmd" in deployed
    bots = "".join(f"user {b}\ntopic read carrybot/{b}/cmd\ntopic write carrybot/{b}/#\n\n" for b in ("b1", "b2"))
    return (
        "pattern read carrybot/firm/cmd\n\n"
        + bots
        + "user operator\ntopic write carrybot/+/cmd\ntopic read carrybot/#\n"
    )


def _env(tmp: Path, port: int, bot_id: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_BOT_ID": bot_id,
        "CARRYBOT_DATA_DIR": str(tmp / bot_id),
        "CARRYBOT_TELEMETRY__ENABLED": "false",
        "CARRYBOT_MQTT__ENABLED": "true",
        "CARRYBOT_MQTT__PORT": str(port),
        "CARRYBOT_MQTT__USERNAME": bot_id,
        "CARRYBOT_MQTT__PASSWORD": PW[bot_id],
        "CARRYBOT_MQTT__COMMAND_SECRET": SECRET,
        "CARRYBOT_MQTT__FIRM_COMMAND_SECRET": FIRM_SECRET,
        "CARRYBOT_LOG__FORMAT": "json",
    }


def _cmd(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "cmd", "--firm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
    )


def test_a_firm_halt_reaches_every_instance_and_the_replies_are_collected(tmp_path: Path) -> None:
    broker = Broker(tmp_path, PW, _acl())
    broker.start()
    bots = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--pace", "300"],  # outlives the test (an ended bot is offline)
            env=_env(tmp_path, broker.port, b),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for b in ("b1", "b2")
    ]

    async def both_online() -> None:
        online: set[str] = set()
        async with aiomqtt.Client("127.0.0.1", broker.port, username="operator", password=PW["operator"]) as op:
            await op.subscribe("carrybot/+/status", qos=1)
            async with asyncio.timeout(60):
                async for msg in op.messages:
                    if msg.payload == b"online":
                        online.add(str(msg.topic).split("/")[1])
                    if online == {"b1", "b2"}:
                        return

    async def refused_and_dropped() -> list[dict]:
        """A bot's account publishing to the firm: dropped by the broker. A command signed for b1 sent to the firm:
        refused by both, with a reply each."""
        replies: list[dict] = []
        now = int(time.time() * 1000)
        async with aiomqtt.Client("127.0.0.1", broker.port, username="b2", password=PW["b2"]) as b2:
            await b2.publish("carrybot/firm/cmd", sign("resume", FIRM_SECRET.encode(), now, to="firm"), qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port, username="operator", password=PW["operator"]) as op:
            await op.subscribe("carrybot/+/cmd/reply", qos=1)
            await op.publish("carrybot/firm/cmd", sign("halt", SECRET.encode(), now, to="b1"), qos=1)
            async with asyncio.timeout(20):
                async for msg in op.messages:
                    replies.append(json.loads(msg.payload))  # type: ignore[arg-type]
                    if len(replies) == 2:
                        break
        return replies

    try:
        asyncio.run(both_online())
        replies = asyncio.run(refused_and_dropped())
        assert sorted(r["bot_id"] for r in replies) == ["b1", "b2"]
        assert {r["code"] for r in replies} == {"bad_signature"}  # b1's key is not the firm's
        env = _env(tmp_path, broker.port, "b1") | {"CARRYBOT_MQTT__USERNAME": "operator"}
        env["CARRYBOT_MQTT__PASSWORD"] = PW["operator"]
        cli = _cmd(env, tmp_path, "halt", "--timeout", "30")
        assert cli.returncode == 0, cli.stdout + cli.stderr
        out = json.loads(cli.stdout)
        assert out["online"] == ["b1", "b2"] and out["missing"] == [] and out["all_ok"]
        assert {b: r["state"] for b, r in out["replies"].items()} == {"b1": "halted", "b2": "halted"}
        status = _cmd(env, tmp_path, "status", "--timeout", "30")
        states = {b: r["state"] for b, r in json.loads(status.stdout)["replies"].items()}
        assert states == {"b1": "halted", "b2": "halted"}  # the resume b2's account sent never reached anyone
        bad = _cmd(env, tmp_path, "reload-rules")
        assert bad.returncode == 2 and "to the firm" in bad.stderr
    finally:
        for b in bots:
            b.terminate()
        for b in bots:
            b.wait(timeout=60)
        broker.stop()
