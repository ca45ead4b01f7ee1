"""Every mistake a clear message (issue: fail safe): exit 2 for configuration and input, 1 for a run-time failure,
one readable line naming what failed, no traceback without --debug; one instance per bot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli_errors import unknown_variables

PG = os.environ.get("CARRYBOT_TEST_PG_URL")


def _cli(tmp: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_DATA_DIR": str(tmp / "var"),
        "CARRYBOT_LOG__LEVEL": "error",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=base | (env or {}),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _write(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return name


CASES = [
    ("firm without PostgreSQL", ["config", "check"], {"CARRYBOT_FIRM__ENABLED": "true"}, 2, "firm.enabled needs"),
    ("firm url not PostgreSQL", ["config", "check"], {"CARRYBOT_FIRM__URL": "sqlite:///x"}, 2, "CARRYBOT_FIRM__URL"),
    ("bot id firm", ["config", "check"], {"CARRYBOT_BOT_ID": "firm"}, 2, "'firm' is reserved"),
    ("firm-wide reload", ["cmd", "--firm", "reload-rules"], {"CARRYBOT_MQTT__COMMAND_SECRET": "x" * 16}, 2, "firm"),
    (
        "sqlite url without the async driver",
        ["db", "upgrade"],
        {"CARRYBOT_DB__URL": "sqlite:///x.db"},
        2,
        "CARRYBOT_DB__URL",
    ),
    ("mysql", ["db", "upgrade"], {"CARRYBOT_DB__URL": "mysql://u:p@h/db"}, 2, "not supported"),
    (
        "non-numeric port",
        ["db", "upgrade"],
        {"CARRYBOT_DB__URL": "postgresql+asyncpg://u:p@h:port/db"},
        2,
        "not a database URL",
    ),
    ("refused port", ["db", "upgrade"], {"CARRYBOT_DB__URL": "postgresql+asyncpg://u:p@127.0.0.1:1/db"}, 1, "refused"),
    (
        "unknown host",
        ["db", "upgrade"],
        {"CARRYBOT_DB__URL": "postgresql+asyncpg://u:p@nohost.invalid/db"},
        1,
        "resolve",
    ),
    (
        "misspelled section",
        ["config", "check"],
        {"CARRYBOT_STRATEGGY__S1__NOTIONAL_USD": "1"},
        2,
        "CARRYBOT_STRATEGGY__S1__NOTIONAL_USD",
    ),
    ("unknown field", ["config", "check"], {"CARRYBOT_REPLAY__VENUS": "okx"}, 2, "CARRYBOT_REPLAY__VENUS"),
    ("list not JSON", ["config", "check"], {"CARRYBOT_STRATEGY__ACTIVE": "s2"}, 2, "JSON"),
    ("1e400", ["config", "check"], {"CARRYBOT_STRATEGY__S1__NOTIONAL_USD": "1e400"}, 2, "strategy.s1.notional_usd"),
    ("nan", ["config", "check"], {"CARRYBOT_PAPER__SLIPPAGE_BPS": "nan"}, 2, "finite"),
    (  # a nested model had its own config: an infinite pool made every S4 borrow rate NaN
        "inf in the borrow curve",
        ["config", "check"],
        {"CARRYBOT_BORROW__CURVE__POOL_BORROWS_USD": "inf"},
        2,
        "borrow.curve.pool_borrows_usd",
    ),
    ("infinite hard limit", ["rules", "check", "@inf.yaml"], {}, 2, "g7.max_net_total_usd: Input should be a finite"),
    (
        "cmd with no broker",
        ["cmd", "status"],
        {"CARRYBOT_MQTT__COMMAND_SECRET": "s" * 20, "CARRYBOT_MQTT__PORT": "1"},
        1,
        "MQTT broker",
    ),
    (
        "cmd args not JSON",
        ["cmd", "reduce", "--args", "{fraction: 0.5}"],
        {"CARRYBOT_MQTT__COMMAND_SECRET": "s" * 20},
        2,
        "--args",
    ),
    ("missing data file", ["backtest", "--data", "missing.csv.gz"], {}, 2, "no such file"),
    ("missing column", ["backtest", "--data", "@cols.csv"], {}, 2, "missing columns"),
    ("empty file", ["backtest", "--data", "@empty.csv"], {}, 2, "empty file"),
    ("not UTF-8", ["backtest", "--data", "@latin.csv"], {}, 2, "not UTF-8"),
    ("no tradable data", ["backtest"], {"CARRYBOT_REPLAY__START": "2030-01-01"}, 2, "nothing to replay"),
]
FILES = {
    "@inf.yaml": b"g7:\n  max_net_total_usd: .inf\n",  # YAML's infinity: it silently lifted the limit
    "@cols.csv": b"ts,venue\n1,okx\n",
    "@empty.csv": b"",
    "@latin.csv": b"ts,venue,base\n1,\xe9\xe8,BTC\n",
}


@pytest.mark.parametrize("name, args, env, code, needle", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_gets_one_readable_line_and_its_exit_code(tmp_path: Path, name, args, env, code, needle) -> None:
    args = [_write(tmp_path, a[1:], FILES[a]) if a in FILES else a for a in args]
    r = _cli(tmp_path, *args, env=env)
    assert r.returncode == code, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    assert needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, lines


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = _cli(tmp_path, "--debug", "backtest", "--data", "missing.csv.gz")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_the_test_suites_own_variables_are_not_settings() -> None:
    assert unknown_variables(
        {
            "CARRYBOT_TEST_PG_URL": "x",
            "CARRYBOT_CRASH_TRIALS": "3",
            "CARRYBOT_MODE": "paper",
            "CARRYBOT_EXCHANGES__BINANCE__API_KEY": "k",
            "CARRYBOT_STRATEGY__S1__X": "1",
        }
    ) == ["CARRYBOT_STRATEGY__S1__X"]


def _wait_for(proc: subprocess.Popen, path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and "resumed" in path.read_text() or path.exists() and "started" in path.read_text():
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    raise AssertionError("the first instance did not start")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_second_instance_of_a_bot_exits_2_naming_the_holder(tmp_path: Path, backend: str) -> None:
    env: dict[str, str] = {"CARRYBOT_TELEMETRY__ENABLED": "false", "CARRYBOT_BOT_ID": f"lock-{backend}"}
    if backend == "postgresql":
        if not PG:
            if os.environ.get("CI"):
                pytest.fail("CARRYBOT_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
            pytest.skip("no PostgreSQL here")
        env["CARRYBOT_DB__URL"] = PG
    out = tmp_path / "first.out"
    base = (
        {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}
        | env
        | {"CARRYBOT_DATA_DIR": str(tmp_path / "var"), "CARRYBOT_LOG__LEVEL": "error"}
    )
    with out.open("w") as fh:
        first = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--pace", "3000"],
            env=base,
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(first, out)
            second = _cli(tmp_path, "run", "--pace", "3000", env=env)
            assert second.returncode == 2, second.stderr
            assert "already running" in second.stderr and f"pid {first.pid}" in second.stderr, second.stderr
        finally:
            first.kill()
            first.wait()
    # the holder is gone: the run resumes in a new instance (stopped as soon as it says so)
    with out.open("w") as fh:
        again = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--pace", "3000"],
            env=base,
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(again, out)
            assert "resumed" in out.read_text()
        finally:
            again.kill()
            again.wait()


def test_a_busy_metrics_port_stops_start_up_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _cli(tmp_path, "run", "--pace", "3000", env={"CARRYBOT_TELEMETRY__PORT": str(port)})
    assert r.returncode == 2 and "CARRYBOT_TELEMETRY__PORT" in r.stderr, r.stderr


def test_docker_secrets_reach_nested_settings(tmp_path: Path) -> None:
    """The compose stack hands the database URL, MQTT password, command secret and exchange keys to the bot as Docker
    secrets (files in /run/secrets named as their variables). The settings read only top-level fields from there,
    so every one of these was silently ignored; now each file reaches its nested setting, masked in reprs."""
    from pydantic_settings import SettingsConfigDict

    from bot.settings import Settings

    files = {
        "carrybot_db__url": "postgresql+asyncpg://carrybot:pg-pw-1@postgres:5432/carrybot",
        "carrybot_mqtt__password": "mqtt-pw-2",
        "carrybot_mqtt__command_secret": "cmd-secret-3",
        "carrybot_exchanges__binance__api_key": "key-4",
        "carrybot_exchanges__binance__secret": "secret-5",
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")  # as `docker secret` files often end

    class FromSecrets(Settings):
        model_config = SettingsConfigDict(**(Settings.model_config | {"secrets_dir": tmp_path, "env_file": None}))

    s = FromSecrets()
    assert s.db.url is not None and s.db.url.get_secret_value() == files["carrybot_db__url"]
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "mqtt-pw-2"
    assert s.mqtt.command_secret is not None and s.mqtt.command_secret.get_secret_value() == "cmd-secret-3"
    cred = s.exchanges["binance"]
    assert (cred.api_key.get_secret_value(), cred.secret.get_secret_value()) == ("key-4", "secret-5")
    assert not any(v in repr(s) for v in ("pg-pw-1", "mqtt-pw-2", "cmd-secret-3", "key-4", "secret-5"))
