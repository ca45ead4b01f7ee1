"""The image as a user runs it (issue 16): built from deploy/base-image.sh's Debian base by .ci/run, then started
with Docker for real — non-root, paper trading on live market data (the venue emulator on the host's loopback stands
for the venues) until stopped, healthy by its own HEALTHCHECK, /metrics and /readyz answering, ``docker stop``
exiting 0 with the run's summary, and a named volume that lets a new container resume the same run.

Runs where ``CARRYBOT_TEST_IMAGE`` names a built image and a Docker daemon answers (``pytest -m container``; a step
of .ci/run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.emulator.live_run import EmulatorProcess, until

IMAGE = os.environ.get("CARRYBOT_TEST_IMAGE", "")
pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(not IMAGE or shutil.which("docker") is None, reason="set CARRYBOT_TEST_IMAGE (.ci/run does)"),
]


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=120).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return int(r.status)
    except OSError:
        return 0


def test_the_image_trades_live_data_until_stopped_and_a_new_container_resumes_from_its_volume(tmp_path: Path) -> None:
    venue = EmulatorProcess(tmp_path)
    volume, port = f"cb-test-{uuid.uuid4().hex[:8]}", free_port()
    names: list[str] = []
    env = {
        "CARRYBOT_EXCHANGES__BINANCE__API_URL": venue.url,
        "CARRYBOT_REPLAY__VENUES": '["binance"]',
        "CARRYBOT_REPLAY__BASES": '["BTC"]',
        "CARRYBOT_TELEMETRY__PORT": str(port),
        "CARRYBOT_FEED": "live-poll",  # the emulator answers REST; the image's default is the venues' streams
        "CARRYBOT_EXECUTION__LIVE_POLL_SECS": "0.5",
    }

    def start() -> str:
        name = f"cb-{uuid.uuid4().hex[:8]}"
        names.append(name)
        flags = [f"--env={k}={v}" for k, v in env.items()]
        docker(
            "run", "--detach", "--name", name, "--network", "host", "--volume", f"{volume}:/home/carrybot/var",
            "--health-interval", "2s", "--health-start-period", "90s",  # the image's own check, polled faster
            *flags, IMAGE,
        )  # fmt: skip
        return name

    def stop(name: str) -> tuple[int, str]:
        docker("stop", "--time", "60", name)
        code = int(docker("inspect", "--format", "{{.State.ExitCode}}", name))
        return code, docker("logs", name) + subprocess.run(
            ["docker", "logs", name], capture_output=True, text=True, check=False
        ).stderr

    try:
        first = start()
        assert docker("exec", first, "id", "-u") == "10001"  # not root
        until("healthy by the image's HEALTHCHECK", lambda: docker("inspect", "--format",
              "{{.State.Health.Status}}", first) == "healthy", 120)  # fmt: skip
        until("/readyz", lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, 60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            metrics = r.read().decode()
        assert "carrybot_equity_usd" in metrics or "carrybot_" in metrics
        config = json.loads(docker("inspect", "--format", "{{json .Config}}", IMAGE))
        assert config["User"] == "10001" and "CARRYBOT_FEED=live" in config["Env"]  # live data by default
        code, logs = stop(first)
        assert code == 0, logs[-2000:]
        started = next(line for line in logs.splitlines() if line.startswith("carrybot: run "))
        run_key = started.split()[2]
        assert "started" in started and "carrybot: stopped after" in logs and f"resumes run {run_key}" in logs

        second = start()  # a new container on the same named volume resumes the same run
        until("the resumed run", lambda: f"run {run_key} resumed" in docker("logs", second), 90)
        code, logs = stop(second)
        assert code == 0, logs[-2000:]
    finally:
        for name in names:
            docker("rm", "--force", name, check=False)
        docker("volume", "rm", "--force", volume, check=False)
        venue.close()
