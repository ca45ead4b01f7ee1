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


def test_dockerfile_is_hadolint_clean() -> None:
    res = subprocess.run([_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
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
    assert {"carrybot", "postgres", "mosquitto", "prometheus", "grafana"} <= set(compose["services"])
    env = compose["services"]["carrybot"]["environment"]
    assert env["CARRYBOT_MQTT__HOST"] == "mosquitto" and env["CARRYBOT_DB__URL"].startswith("postgresql+asyncpg://")
    targets = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"][0]
    assert targets["static_configs"][0]["targets"] == ["carrybot:9108"]
