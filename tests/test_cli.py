import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

SECRET = "sk-live-7f3a9c1e55d0b2aa"


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    "var, value, field",
    [
        ("CARRYBOT_PAPER__LATENCY_MS", "-1", "paper.latency_ms"),
        ("CARRYBOT_STRATEGY__S1__NOTIONAL_USD", "lots", "strategy.s1.notional_usd"),
        ("CARRYBOT_MODE", "yolo", "mode"),
        ("CARRYBOT_REPLAY__VENUES", '["binance", "kraken"]', "replay.venues"),
    ],
)
def test_invalid_settings_exit_2_naming_the_field(tmp_path: Path, var: str, value: str, field: str) -> None:
    res = _cli("config", "check", env={var: value}, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert field in res.stderr and var in res.stderr


def test_config_check_masks_secrets_from_env_and_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"CARRYBOT_EXCHANGES__OKX__PASSWORD={SECRET}-pw\n")
    res = _cli("config", "check", env={"CARRYBOT_EXCHANGES__BINANCE__API_KEY": SECRET}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = json.loads(res.stdout)
    assert cfg["exchanges"]["binance"]["api_key"] == "**********"
    assert cfg["exchanges"]["okx"]["password"] == "**********"
    assert SECRET not in res.stdout + res.stderr


def test_backtest_writes_a_json_report_and_keeps_secrets_out_of_logs(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    env = {
        "CARRYBOT_EXCHANGES__BINANCE__API_KEY": SECRET,
        "CARRYBOT_LOG__LEVEL": "debug",
        "CARRYBOT_REPLAY__START": "2024-03-01",
        "CARRYBOT_REPLAY__END": "2024-04-01",
    }
    res = _cli("backtest", "--json", str(out), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert report["run"]["from"] == "2024-03-01T00:00:00Z"
    assert report["counts"]["ticks"] == 31 * 3
    assert SECRET not in res.stdout + res.stderr + out.read_text()
    assert "funding" in res.stdout and "ledger residual" in res.stdout


def test_run_is_paced_and_prints_progress_and_summary(tmp_path: Path) -> None:
    env = {"CARRYBOT_REPLAY__START": "2024-06-01", "CARRYBOT_REPLAY__END": "2024-06-11"}
    res = _cli("run", "--pace", "0.5", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("carrybot: paper trading")
    assert any("equity" in ln and "%" in ln for ln in lines[1:-6])
    assert any(line.startswith("  governor") for line in lines[-3:])


def test_live_mode_without_keys_is_refused_naming_the_setting(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CARRYBOT_MODE", "live")
    monkeypatch.setenv("CARRYBOT_REPLAY__VENUES", '["okx"]')
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "exchanges" in err and "okx" in err and "API keys" in err


def test_live_mode_on_a_real_venue_needs_an_explicit_mainnet_confirmation(monkeypatch, capsys) -> None:
    """Keys alone used to trade mainnet with no confirmation. Now live mode on a venue's real account needs
    exchanges.<venue>.mainnet=true (a sandbox or an api_url — the emulator — needs none); shadow mode needs none."""
    monkeypatch.setenv("CARRYBOT_REPLAY__VENUES", '["binance"]')
    monkeypatch.setenv("CARRYBOT_EXCHANGES__BINANCE__API_KEY", "k-1234")
    monkeypatch.setenv("CARRYBOT_EXCHANGES__BINANCE__SECRET", "s-5678")
    assert main(["run", "--mode", "live"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exchanges.binance.mainnet" in err and "CARRYBOT_EXCHANGES__BINANCE__MAINNET" in err
    assert "k-1234" not in err and "s-5678" not in err
    monkeypatch.setenv("CARRYBOT_EXCHANGES__BINANCE__API_URL", "ftp://elsewhere")
    assert main(["run", "--mode", "live"]) == 2
    assert "api_url" in capsys.readouterr().err  # only http(s) base URLs


def test_mode_flag_live_needs_keys_too(monkeypatch, capsys) -> None:
    monkeypatch.delenv("CARRYBOT_MODE", raising=False)
    monkeypatch.setenv("CARRYBOT_REPLAY__VENUES", '["bybit"]')
    assert main(["run", "--mode", "live"]) == 2
    assert "bybit" in capsys.readouterr().err


def test_sigterm_stops_the_run_cleanly_and_a_restart_resumes_it(tmp_path: Path) -> None:
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--pace", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the run has started
    assert first.startswith("carrybot: paper trading")
    assert "started" in proc.stdout.readline()
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert any(line.startswith("  governor") for line in out.splitlines()[-3:])
    # the summary of an interrupted run says where it stopped, covers what was played, and that the next run resumes
    stop = next(line for line in out.splitlines() if line.startswith("  stopped     at"))
    assert "resumes" in stop and "2024-06-30" not in stop.split(" of a window")[0]
    again = _cli("run", "--pace", "0", "--json", "r.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert " resumed " in again.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["store"]["finished"] and report["store"]["recovery"]["position_mismatches"] == 0
    assert report["store"]["recovery"]["orders_working"] == 0  # open orders were cancelled on SIGTERM
