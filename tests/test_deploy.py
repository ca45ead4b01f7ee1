"""The container and the monitoring stack: the Dockerfile is hadolint-clean, alert rules pass promtool's checks and
unit tests, and every metric a dashboard panel or alert queries is one the bot exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.telemetry.metrics import Metrics

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"


def _tool(name: str) -> str:
    exe = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: .ci/run and the test extras must provide it")
        pytest.skip(f"{name} is not installed here")
    return exe


def test_dockerfiles_are_hadolint_clean() -> None:
    """The bot's and the stack's images built from Debian's packages (deploy/images/)."""
    for dockerfile in [ROOT / "Dockerfile", *sorted((DEPLOY / "images").glob("*/Dockerfile"))]:
        res = subprocess.run([_tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.strip() == "", res.stdout


def test_alert_rules_pass_promtool_checks_and_unit_tests() -> None:
    promtool = _tool("promtool")
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        res = subprocess.run([promtool, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts_test.yml").read_text())
    tested = {t["alertname"] for block in tests["tests"] for t in block["alert_rule_test"]}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    assert tested == {r["alert"] for g in rules["groups"] for r in g["rules"]}  # every alert has a unit test


def _exported() -> set[str]:
    text = generate_latest(Metrics().registry).decode()
    names = set()
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        names.update({fam.name + s for s in ("_total", "_bucket", "_count", "_sum", "_info", "_created")})
    return names


def test_every_queried_metric_is_exported() -> None:
    exprs = [
        r["expr"]
        for g in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "carrybot.json").read_text())
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert dash["uid"] == "carrybot-main"
    used = {m for e in exprs for m in re.findall(r"\bcarrybot_[a-z_]+", e)}
    assert used and used <= _exported(), used - _exported()


def test_compose_stack_has_the_services_and_the_bot_is_wired_to_them() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"carrybot", "postgres", "mosquitto", "prometheus", "alertmanager", "grafana"} <= set(services)
    bot = services["carrybot"]
    assert bot["environment"]["CARRYBOT_MQTT__HOST"] == "mosquitto"
    # secrets reach the bot as files named as its settings, never as environment variables
    targets = {s["target"] for s in bot["secrets"]}
    assert {"carrybot_db__url", "carrybot_mqtt__password", "carrybot_mqtt__command_secret"} <= targets
    assert not any("PASSWORD" in k or "SECRET" in k or k.endswith("__URL") for k in bot["environment"])
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "mosquitto": {"condition": "service_healthy"},
    }
    for name, svc in services.items():
        assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), name  # loopback only
        assert svc["logging"]["options"]["max-size"] and svc["deploy"]["resources"]["limits"], name
        assert name == "carrybot" or "healthcheck" in svc, name  # the bot's image has its own
    assert (
        services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    )
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["carrybot:9108"]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def _init_secrets(tmp_path: Path) -> Path:
    """deploy/ copied aside with its secrets made by deploy/init-secrets.sh, as a user does before `up`."""
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns("secrets", ".env"))
    shutil.copy(ROOT / "config" / "example.env", deploy / ".env")
    env = os.environ | {"PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    res = subprocess.run(["bash", str(deploy / "init-secrets.sh")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return deploy


def test_init_secrets_makes_every_secret_the_stack_names_and_a_password_file_the_broker_accepts(
    tmp_path: Path,
) -> None:
    """The Mosquitto password file was not committed (Docker mounted a directory in its place) and the documented way
    to make it expanded the passwords where they were empty. The script makes every secret file the compose file
    names, private, and a password file with which a real broker, the repository's ACL and the generated passwords
    let the operator read what the stack's healthcheck reads — in plain MQTT and over the TLS listener with the
    generated certificates (the stack's broker had no certificates and could not start) — and refuse a wrong
    password."""
    if shutil.which("mosquitto_passwd") is None or shutil.which("mosquitto", path="/usr/sbin:/usr/bin") is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed: .ci/run installs it")
        pytest.skip("mosquitto is not installed here")
    deploy = _init_secrets(tmp_path)
    secrets = deploy / "secrets"
    named = yaml.safe_load((deploy / "docker-compose.yml").read_text())["secrets"]
    assert secrets.stat().st_mode & 0o077 == 0  # the directory is its owner's alone
    for name, spec in named.items():
        path = (deploy / spec["file"]).resolve()
        # present, and readable by the service's own user inside its container (Compose keeps the host file's mode)
        assert path.is_file() and path.stat().st_mode & 0o777 == 0o644, name
    db_url = (secrets / "db_url").read_text()
    assert db_url == f"postgresql+asyncpg://carrybot:{(secrets / 'db_password').read_text()}@postgres:5432/carrybot"
    again = (secrets / "command_secret").read_text()
    _init_secrets(tmp_path / "b")  # another stack gets its own passwords; a second run keeps the existing ones
    subprocess.run(["bash", str(deploy / "init-secrets.sh")], check=True, capture_output=True)
    assert (secrets / "command_secret").read_text() == again

    import asyncio
    import socket

    import aiomqtt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    # "user root": started as root, mosquitto would drop to a user that cannot read pytest's tmp dir
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        tls_port = s.getsockname()[1]
    conf.write_text(
        f"per_listener_settings false\nallow_anonymous false\npassword_file {secrets / 'mosquitto_passwd'}\n"
        "user root\n"
        f"acl_file {deploy / 'mosquitto' / 'acl'}\nlistener {port} 127.0.0.1\npersistence false\n"
        f"listener {tls_port} 127.0.0.1\ncafile {secrets / 'mqtt-ca.crt'}\ncertfile {secrets / 'mqtt-server.crt'}\n"
        f"keyfile {secrets / 'mqtt-server.key'}\ntls_version tlsv1.2\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto", path="/usr/sbin:/usr/bin") or "mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def uptime(user: str, password: str, tls: bool = False) -> str:
        kw = {"tls_params": aiomqtt.TLSParameters(ca_certs=str(secrets / "mqtt-ca.crt"))} if tls else {}
        for _ in range(50):  # the broker starting: poll with a deadline
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", tls_port if tls else port, username=user, password=password, **kw
                ) as c:
                    await c.subscribe("$SYS/broker/uptime")
                    async with asyncio.timeout(15):
                        async for msg in c.messages:
                            return bytes(msg.payload).decode()  # type: ignore[arg-type]
            except aiomqtt.MqttError as exc:
                if "[Errno" not in str(exc):  # the broker answered (a bad password): not a broker still starting
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError("the broker never answered")

    try:
        assert "seconds" in asyncio.run(uptime("operator", (secrets / "operator_password").read_text()))
        # the TLS listener operators use, with the generated CA and server certificate (hostname checked)
        assert "seconds" in asyncio.run(uptime("operator", (secrets / "operator_password").read_text(), tls=True))
        with pytest.raises(aiomqtt.MqttError):
            asyncio.run(uptime("operator", "wrong-password"))
    finally:
        broker.terminate()
        broker.wait(10)


def test_compose_itself_accepts_the_stack(tmp_path: Path) -> None:
    """The compose file as Compose reads it (Debian's docker-compose; .ci/run installs it): secrets, healthchecks,
    the ordering on them, limits and logging all parse."""
    compose = _tool("docker-compose")
    deploy = _init_secrets(tmp_path) if shutil.which("mosquitto_passwd") else None
    if deploy is None:
        pytest.skip("mosquitto_passwd is needed to make the stack's secrets")
    res = subprocess.run(
        [compose, "-f", str(deploy / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
