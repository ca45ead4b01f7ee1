"""A real Prometheus server scrapes a running carrybot and a query returns its metrics (Prometheus from Debian's
package, installed by .ci/run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def start_prometheus(tmp_path: Path, targets: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    """A real Prometheus scraping ``targets`` (local ports) every second; its process and its port."""
    prom = shutil.which("prometheus")
    if prom is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed: .ci/run must install it")
        pytest.skip("prometheus is not installed here (.ci/run installs it)")
    port = free_port()
    listed = ", ".join(f"'127.0.0.1:{p}'" for p in targets)
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: carrybot\n    static_configs: [{{targets: [{listed}]}}]\n"
    )
    server = subprocess.Popen(
        [
            prom,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def test_prometheus_scrapes_the_bot_and_queries_its_metrics(tmp_path: Path) -> None:
    bot_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_TELEMETRY__PORT": str(bot_port),
        "CARRYBOT_DATA_DIR": str(tmp_path / "var"),
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--pace", "60"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server, prom_port = start_prometheus(tmp_path, [bot_port])
    try:
        deadline = time.monotonic() + 60
        result: list = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                _, body = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query=carrybot_equity_usd")
                result = body["data"]["result"]
            except OSError:
                continue
        assert result, "Prometheus never returned carrybot_equity_usd"
        assert float(result[0]["value"][1]) > 0
        _, up = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query=up%7Bjob%3D%22carrybot%22%7D")
        assert up["data"]["result"][0]["value"][1] == "1"
        status, health = _get(f"http://127.0.0.1:{bot_port}/healthz")
        assert status == 200 and health["status"] == "alive"
        status, ready = _get(f"http://127.0.0.1:{bot_port}/readyz")
        assert status == 200 and ready["checks"] == {"feed_fresh": True, "store": True, "venues": True}
    finally:
        for p in (bot, server):
            p.terminate()
            p.wait(timeout=30)
