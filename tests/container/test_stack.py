"""The compose stack up for real (issue 16): the bot with PostgreSQL, Mosquitto, Prometheus and Alertmanager, their
images built from Debian's packages (deploy/images/, no image registry reachable here; Grafana is in no registry this
machine reaches and stays out). The secrets come from deploy/init-secrets.sh, the bot keeps its store in PostgreSQL
and speaks MQTT, Prometheus scrapes it and evaluates the alert rules, and a signed ``halt`` sent by the operator
account fires ``CarrybotHalted`` into Alertmanager.

Runs where ``CARRYBOT_TEST_STACK`` is set and the images are built (``pytest -m container``; a step of .ci/run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.live_run import until

ROOT = Path(__file__).parents[2]
IMAGES = {
    "CARRYBOT_IMAGE": os.environ.get("CARRYBOT_TEST_IMAGE", ""),
    "POSTGRES_IMAGE": "carrybot-postgres:ci",
    "MOSQUITTO_IMAGE": "carrybot-mosquitto:ci",
    "PROMETHEUS_IMAGE": "carrybot-prometheus:ci",
    "ALERTMANAGER_IMAGE": "carrybot-alertmanager:ci",
}
pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        not os.environ.get("CARRYBOT_TEST_STACK") or not IMAGES["CARRYBOT_IMAGE"] or not shutil.which("docker-compose"),
        reason="set CARRYBOT_TEST_STACK and CARRYBOT_TEST_IMAGE with the stack's images built (.ci/run does)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_the_stack_stores_scrapes_evaluates_and_alerts(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", deploy, ignore=shutil.ignore_patterns("secrets", ".env"))
    # a paper trader that keeps running for the test: the bundled replay paced over half an hour
    (deploy / ".env").write_text(
        (ROOT / "config" / "example.env").read_text() + "\nCARRYBOT_FEED=replay\nCARRYBOT_REPLAY__PACE_SECS=1800\n"
    )
    env = os.environ | {"PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    subprocess.run(["bash", str(deploy / "init-secrets.sh")], env=env, check=True, capture_output=True)
    ports = {k: free_port() for k in ("CARRYBOT_PORT", "MQTT_TLS_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT")}
    env |= IMAGES | {k: str(v) for k, v in ports.items()}
    project = f"cbstack{uuid.uuid4().hex[:6]}"
    compose = ["docker-compose", "-p", project, "-f", str(deploy / "docker-compose.yml")]

    def run(*args: str) -> str:
        res = subprocess.run([*compose, *args], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    prom = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}"
    try:
        # up waits for PostgreSQL and Mosquitto to be healthy before it starts the bot (service_healthy)
        run("up", "-d", "--no-build", "carrybot", "prometheus")
        bot = f"{project}_carrybot_1"
        until(
            "the bot healthy",
            lambda: (
                subprocess.run(
                    ["docker", "inspect", "--format", "{{.State.Health.Status}}", bot], capture_output=True, text=True
                ).stdout.strip()
                == "healthy"
            ),
            180,
        )
        logs = subprocess.run(["docker", "logs", bot], capture_output=True, text=True).stdout
        assert "store postgresql+asyncpg://carrybot:***@postgres:5432/carrybot" in logs  # the password never shows

        def scraped() -> bool:
            res = get(f"{prom}/api/v1/query?query=carrybot_equity_usd")["data"]["result"]
            return bool(res) and float(res[0]["value"][1]) > 0

        until("Prometheus scraping the bot", lambda: _quiet(scraped), 120)

        def evaluated() -> bool:
            groups = get(f"{prom}/api/v1/rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return bool(rules) and all(
                r["health"] == "ok" and r.get("lastEvaluation", "0001")[:4] != "0001" for r in rules
            )

        until("every alert rule evaluated", lambda: _quiet(evaluated), 120)

        # the operator account halts the bot with a signed command (the command secret is the bot's Docker secret)
        op = (deploy / "secrets" / "operator_password").read_text()
        reply = subprocess.run(
            ["docker", "exec", "-e", "CARRYBOT_MQTT__USERNAME=operator", "-e", f"CARRYBOT_MQTT__PASSWORD={op}", bot,
             "carrybot", "cmd", "halt", "--args", '{"reason": "stack test"}'],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert '"ok": true' in reply.stdout and '"state": "halted"' in reply.stdout, reply.stdout + reply.stderr

        am = f"http://127.0.0.1:{ports['ALERTMANAGER_PORT']}"

        def alerted() -> bool:
            alerts = get(f"{am}/api/v2/alerts")
            return any(
                a["labels"]["alertname"] == "CarrybotHalted" and a["receivers"][0]["name"] == "operators"
                for a in alerts
            )

        until("CarrybotHalted in Alertmanager", lambda: _quiet(alerted), 120)
    finally:
        subprocess.run([*compose, "down", "--volumes", "--timeout", "30"], env=env, capture_output=True, timeout=300)


def _quiet(check: Any) -> bool:
    """A check that may meet a service still starting: an error is a 'not yet'."""
    try:
        return bool(check())
    except (OSError, ValueError, KeyError, IndexError):
        return False
