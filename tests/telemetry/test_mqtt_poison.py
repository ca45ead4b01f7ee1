"""A real Mosquitto and a running bot: poison and fuzzed messages on ``cmd`` leave the channel answering, and a
signed command captured before a SIGKILL is refused by the restarted bot (issue: fail safe)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telemetry.commands import sign
from tests.telemetry.test_mqtt import BOT_PW, OP_PW, SECRET, Broker

pytestmark = pytest.mark.slow
KEY = SECRET.encode()


def _fuzz_payloads(n: int) -> list[bytes]:
    """Raw bytes and JSON shapes from hypothesis (collected first, then published in one session)."""
    out: list[bytes] = []
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
        max_leaves=12,
    )
    shapes = st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "cmd": st.sampled_from(["halt", "resume", "reduce", "x"]),
                "args": json_values,
                "ts": json_values,
                "nonce": json_values,
                "sig": st.text(max_size=70),
            }
        ).map(lambda d: json.dumps(d).encode()),
    )

    @settings(max_examples=n, deadline=None, database=None)
    @given(shapes)
    def collect(p: bytes) -> None:
        out.append(p)

    collect()
    return out


def _start(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_BOT_ID": "b1",
        "CARRYBOT_DATA_DIR": str(tmp_path / "var"),
        "CARRYBOT_TELEMETRY__ENABLED": "false",
        "CARRYBOT_MQTT__ENABLED": "true",
        "CARRYBOT_MQTT__PORT": str(port),
        "CARRYBOT_MQTT__USERNAME": "bot",
        "CARRYBOT_MQTT__PASSWORD": BOT_PW,
        "CARRYBOT_MQTT__COMMAND_SECRET": SECRET,
        "CARRYBOT_LOG__FORMAT": "json",
        "CARRYBOT_MQTT__HEARTBEAT_SECS": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--pace", "3000"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class Operator:
    def __init__(self, port: int) -> None:
        self.port = port
        self.replies: list[dict] = []
        self.status: list[str] = []

    async def __aenter__(self) -> Operator:
        self.client = aiomqtt.Client(
            "127.0.0.1", self.port, username="operator", password=OP_PW, identifier=f"op-{time.monotonic_ns()}"
        )
        await self.client.__aenter__()
        await self.client.subscribe("carrybot/b1/cmd/reply", qos=1)
        await self.client.subscribe("carrybot/b1/status", qos=1)
        self.task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await self.client.__aexit__(None, None, None)

    async def _listen(self) -> None:
        async for msg in self.client.messages:
            body = msg.payload.decode() if isinstance(msg.payload, bytes) else str(msg.payload)
            if str(msg.topic).endswith("cmd/reply"):
                self.replies.append(json.loads(body))
            elif str(msg.topic).endswith("/status"):
                self.status.append(body)

    async def online(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.status[-1:] != ["online"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert self.status[-1:] == ["online"], self.status

    async def send(self, raw: bytes, nonce: str | None = None, timeout: float = 20) -> dict:
        n = len(self.replies)
        await self.client.publish("carrybot/b1/cmd", raw, qos=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.replies[n:]:
                if nonce is None or r.get("nonce") == nonce:
                    return r
            await asyncio.sleep(0.05)
        raise AssertionError(f"no reply to {raw[:80]!r}")


def test_poison_and_fuzz_leave_the_channel_answering_and_replays_fail_after_a_restart(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    bot = _start(tmp_path, broker.port)
    fuzz = _fuzz_payloads(300)
    try:

        async def first_life() -> bytes:
            async with Operator(broker.port) as op:
                await op.online()
                now = int(time.time() * 1000)
                poison = [
                    json.dumps(json.loads(sign("halt", KEY, now)) | {"sig": "é" * 64}).encode(),
                    b'{"cmd": "halt", "args": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                    sign("halt", KEY, now, {"blob": "x" * (20 * 1024 * 1024)}),
                ]
                for raw in poison:
                    assert (await op.send(raw))["ok"] is False
                for bad in (float("nan"), 1e308, -1, 0, "nan", [0.5], True):
                    nonce = f"n-reduce-{abs(hash(repr(bad))) % 10**8:08d}"
                    r = await op.send(sign("reduce", KEY, int(time.time() * 1000), {"fraction": bad}, nonce), nonce)
                    assert r["code"] == "bad_args"
                for raw in fuzz:
                    await op.client.publish("carrybot/b1/cmd", raw, qos=1)
                st = await op.send(
                    sign("status", KEY, int(time.time() * 1000), nonce="n-status-0001"), "n-status-0001", timeout=60
                )
                assert st["ok"] and st["state"] == "active"  # nothing above changed anything
                captured = sign("pause", KEY, int(time.time() * 1000), nonce="n-captured-01")
                r = await op.send(captured, "n-captured-01")
                assert r["ok"] and r["state"] == "reducing"
                return captured

        captured = asyncio.run(first_life())
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=30)
        bot = _start(tmp_path, broker.port)

        async def second_life() -> None:
            async with Operator(broker.port) as op:
                await op.online()
                r = await op.send(captured, "n-captured-01")
                assert r["code"] == "replayed_nonce"
                st = await op.send(sign("status", KEY, int(time.time() * 1000), nonce="n-status-0002"), "n-status-0002")
                assert st["ok"]

        asyncio.run(second_life())
        assert bot.poll() is None
    except BaseException:
        if bot.poll() is None:
            bot.kill()
        err = bot.stderr.read().decode()[-3000:] if bot.stderr else ""
        raise AssertionError(f"bot log tail:\n{err}") from None
    finally:
        if bot.poll() is None:
            bot.kill()
        broker.stop()


def test_the_deploy_broker_config_caps_packets_and_serves_tls(tmp_path: Path) -> None:
    """``deploy/mosquitto/mosquitto.conf`` run for real (its paths pointed at a temporary dir, a self-signed CA):
    a TLS client gets in on 8883's listener, and a 20 MiB publish is refused by the broker itself."""
    import shutil
    import socket
    import ssl

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists() or not shutil.which("openssl"):
        if os.environ.get("CI"):
            pytest.fail("mosquitto and openssl must be installed (.ci/run)")
        pytest.skip("mosquitto or openssl missing")
    certs = tmp_path / "certs"
    certs.mkdir()
    subj = "/CN=localhost"

    def ssl_cmd(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ssl_cmd(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=carrybot-test-ca",
        "-keyout",
        str(certs / "ca.key"),
        "-out",
        str(certs / "ca.crt"),
    )
    ssl_cmd(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subj,
        "-keyout",
        str(certs / "server.key"),
        "-out",
        str(certs / "server.csr"),
    )
    (certs / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl_cmd(
        "x509",
        "-req",
        "-in",
        str(certs / "server.csr"),
        "-CA",
        str(certs / "ca.crt"),
        "-CAkey",
        str(certs / "ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(certs / "ext"),
        "-out",
        str(certs / "server.crt"),
    )
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "operator", OP_PW], check=True)
    (tmp_path / "acl").write_text("user operator\ntopic readwrite carrybot/#\n")
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    conf = (Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    assert "max_packet_size 65536" in conf and "listener 8883" in conf
    conf = conf.replace("/mosquitto/config/", f"{tmp_path}/").replace("/mosquitto/data/", f"{tmp_path}/")
    conf = (
        conf.replace("listener 1883", f"listener {ports[0]} 127.0.0.1").replace(
            "listener 8883", f"listener {ports[1]} 127.0.0.1"
        )
        + "user root\n"
    )
    (tmp_path / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(
        [exe, "-c", str(tmp_path / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ports[1])) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))

        async def scenario() -> None:
            async with aiomqtt.Client(
                "127.0.0.1", ports[1], username="operator", password=OP_PW, tls_context=ctx, identifier="tls-op"
            ) as c:
                await c.subscribe("carrybot/t/#", qos=1)
                await c.publish("carrybot/t/small", b"ok", qos=1)
                async with asyncio.timeout(10):
                    async for msg in c.messages:
                        assert msg.payload == b"ok"
                        break
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client(
                    "127.0.0.1", ports[0], username="operator", password=OP_PW, identifier="big-op"
                ) as c:
                    await c.publish("carrybot/t/big", b"x" * (20 * 1024 * 1024), qos=1, timeout=10)
                    await c.publish("carrybot/t/after", b"x", qos=1, timeout=10)

        asyncio.run(scenario())

        # `carrybot cmd` over the TLS listener with the CA of the settings: it ignored CARRYBOT_MQTT__TLS and spoke
        # plain MQTT to the TLS port, so an operator could not reach the stack's broker (only 8883 is published)
        async def command_arrives() -> bytes:
            async with aiomqtt.Client(
                "127.0.0.1", ports[1], username="operator", password=OP_PW, tls_context=ctx, identifier="tls-watch"
            ) as c:
                await c.subscribe("carrybot/carrybot/cmd", qos=1)
                env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
                    "CARRYBOT_MQTT__HOST": "localhost",  # the certificate's name: checked
                    "CARRYBOT_MQTT__PORT": str(ports[1]),
                    "CARRYBOT_MQTT__TLS": "true",
                    "CARRYBOT_MQTT__CA_FILE": str(certs / "ca.crt"),
                    "CARRYBOT_MQTT__COMMAND_SECRET": "a-command-secret-of-32-characters",
                }
                cli = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "cmd", "status", "--user", "operator", "--password", OP_PW,
                    "--timeout", "2", env=env, cwd=tmp_path,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                async with asyncio.timeout(30):
                    async for msg in c.messages:
                        _, err = await cli.communicate()
                        assert err.decode().strip().endswith("no reply"), err.decode()  # no bot here to answer
                        return bytes(msg.payload)  # type: ignore[arg-type]
            raise AssertionError("no command reached the broker")

        assert b'"cmd":"status"' in asyncio.run(command_arrives()).replace(b" ", b"")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
