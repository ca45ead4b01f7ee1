"""A real Mosquitto (password file + ACL): events arrive, signed commands act, bad ones are rejected with a reply,
strangers cannot get in, the bot rides out a broker restart, and says offline when it leaves."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from bot.telemetry.commands import sign

pytestmark = pytest.mark.slow
SECRET = "mqtt-command-secret-7d1f3a9b"
BOT_PW, OP_PW, VIEW_PW = "bot-pw-19c2", "op-pw-77ae", "view-pw-5b0e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ACL = (
    "user bot\ntopic read carrybot/b1/cmd\ntopic write carrybot/b1/#\n\n"
    "user operator\ntopic write carrybot/b1/cmd\ntopic read carrybot/b1/#\n\n"
    "user viewer\ntopic read carrybot/b1/#\n"
)


class Broker:
    def __init__(self, tmp: Path, users: dict[str, str] | None = None, acl: str = ACL) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            if os.environ.get("CI"):
                pytest.fail("mosquitto is not installed: .ci/run must install it")
            pytest.skip("mosquitto is not installed here (.ci/run installs it)")
        self.exe, self.port = exe, _free_port()
        pw = tmp / "passwd"
        users = users or {"bot": BOT_PW, "operator": OP_PW, "viewer": VIEW_PW}
        for i, (user, password) in enumerate(users.items()):
            subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(pw), user, password], check=True)
        acl_file = tmp / "acl"
        acl_file.write_text(acl)
        self.conf = tmp / "mosquitto.conf"
        # "user root": when started as root, mosquitto would drop to a user that cannot read pytest's tmp dir
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\nuser root\n"
            f"acl_file {acl_file}\npersistence false\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def test_mqtt_events_commands_acl_and_reconnect(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_BOT_ID": "b1",
        "CARRYBOT_DATA_DIR": str(tmp_path / "var"),
        "CARRYBOT_TELEMETRY__ENABLED": "false",
        "CARRYBOT_MQTT__ENABLED": "true",
        "CARRYBOT_MQTT__PORT": str(broker.port),
        "CARRYBOT_MQTT__USERNAME": "bot",
        "CARRYBOT_MQTT__PASSWORD": BOT_PW,
        "CARRYBOT_MQTT__COMMAND_SECRET": SECRET,
        "CARRYBOT_MQTT__HEARTBEAT_SECS": "0.5",
        "CARRYBOT_LOG__FORMAT": "json",
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--pace", "40"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    async def scenario() -> dict:
        seen: dict[str, list] = {}
        replies: list[dict] = []

        async def send(client: aiomqtt.Client, raw: bytes) -> dict:
            """Publish to cmd and wait for the next reply."""
            n = len(replies)
            await client.publish("carrybot/b1/cmd", raw, qos=1)
            deadline = time.monotonic() + 15
            while len(replies) == n and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(replies) > n, "no reply"
            return replies[n]

        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="operator", password=OP_PW, identifier="op-1"
        ) as op:
            await op.subscribe("carrybot/b1/#", qos=1)

            async def listen() -> None:
                async for msg in op.messages:
                    topic = str(msg.topic)
                    body = msg.payload.decode() if isinstance(msg.payload, bytes) else str(msg.payload)
                    seen.setdefault(topic, []).append(body)
                    if topic.endswith("cmd/reply"):
                        replies.append(json.loads(body))

            task = asyncio.create_task(listen())
            deadline = time.monotonic() + 30
            while "carrybot/b1/events/decisions" not in seen and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert seen.get("carrybot/b1/status", [None])[-1] == "online"
            assert "carrybot/b1/heartbeat" in seen and "carrybot/b1/events/decisions" in seen

            key = SECRET.encode()
            now = int(time.time() * 1000)
            pause = sign("pause", key, now, nonce="n-pause-000001")
            r = await send(op, pause)
            assert r["ok"] and r["state"] == "reducing" and r["nonce"] == "n-pause-000001"
            forged = json.loads(sign("resume", key, now, nonce="n-forged-00001")) | {"sig": "ab" * 32}
            assert (await send(op, json.dumps(forged).encode()))["code"] == "bad_signature"
            assert (await send(op, pause))["code"] == "replayed_nonce"
            assert (await send(op, sign("resume", key, now - 120_000)))["code"] == "stale_timestamp"
            assert (await send(op, b"{nope"))["code"] == "malformed_json"
            assert (await send(op, json.dumps({"cmd": "resume", "x": 1}).encode()))["code"] == "unknown_fields"
            st = await send(op, sign("status", key, int(time.time() * 1000)))
            assert st["ok"] and st["state"] == "reducing"  # nothing forged, replayed or stale was acted upon
            assert any(json.loads(b)["to"] == "reducing" for b in seen.get("carrybot/b1/events/state", []))

            # a known user without write access to cmd: the broker drops the command, even one validly signed
            n = len(replies)
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username="viewer", password=VIEW_PW, identifier="viewer-1"
            ) as viewer:
                await viewer.publish("carrybot/b1/cmd", sign("resume", key, int(time.time() * 1000)), qos=1)
            await asyncio.sleep(2.0)
            assert len(replies) == n  # never reached the bot
            st = await send(op, sign("status", key, int(time.time() * 1000)))
            assert st["state"] == "reducing"

            # strangers cannot get in
            for user, pw in ((None, None), ("operator", "wrong")):
                with pytest.raises(aiomqtt.MqttError):
                    async with aiomqtt.Client(
                        "127.0.0.1", broker.port, username=user, password=pw, identifier=f"x-{user}"
                    ) as stranger:
                        await stranger.publish("carrybot/b1/cmd", b"{}")
            task.cancel()
        payloads = json.dumps(seen)
        for secret in (SECRET, BOT_PW, OP_PW):
            assert secret not in payloads  # no secret in anything the bot published
        return {"seen": seen, "replies": replies}

    try:
        asyncio.run(scenario())
        cli = subprocess.run(
            [sys.executable, "-m", "bot.cli", "cmd", "status", "--user", "operator", "--password", OP_PW],
            env={k: v for k, v in env.items() if k != "CARRYBOT_MQTT__USERNAME"},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["state"] == "reducing"  # the operator tool signs, sends and shows the reply

        # the broker goes away and comes back: the bot reconnects, trading never stopped
        broker.stop()
        time.sleep(2.0)
        assert bot.poll() is None  # still trading without a broker
        broker.start()

        async def after_restart() -> list[str]:
            got: list[str] = []
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username="operator", password=OP_PW, identifier="op-2"
            ) as op:
                await op.subscribe("carrybot/b1/#", qos=1)
                deadline = time.monotonic() + 30
                async with asyncio.timeout(35):
                    async for msg in op.messages:
                        if str(msg.topic) == "carrybot/b1/status":
                            got.append(msg.payload.decode())  # type: ignore[union-attr]
                        if str(msg.topic).startswith("carrybot/b1/events") or time.monotonic() > deadline:
                            break
            return got

        assert asyncio.run(after_restart())[-1:] == ["online"]
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=60)
        assert bot.returncode == 0

        async def final_status() -> str:
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username="operator", password=OP_PW, identifier="op-3"
            ) as op:
                await op.subscribe("carrybot/b1/status", qos=1)
                async with asyncio.timeout(10):
                    async for msg in op.messages:
                        return msg.payload.decode()  # type: ignore[union-attr]
            return ""

        assert asyncio.run(final_status()) == "offline"
        logs = bot.stderr.read().decode() if bot.stderr else ""
        for secret in (SECRET, BOT_PW):
            assert secret not in logs
    finally:
        if bot.poll() is None:
            bot.kill()
        broker.stop()
