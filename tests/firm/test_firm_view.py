"""Two real ``carrybot run`` instances on one PostgreSQL under one firm budget, scraped by a real Prometheus: both
reserve through the firm (audited in the shared store), and every query of the dashboard's firm view returns series —
the instances side by side by bot id, the budget used against its limit."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.pg import fresh_pg_db, pg_rows
from tests.telemetry.test_prometheus import free_port, start_prometheus

pytestmark = pytest.mark.campaign  # two bot processes: a step of its own in .ci/run
ROOT = Path(__file__).resolve().parents[2]


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]["result"]


def _firm_view() -> list[str]:
    dash = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "carrybot.json").read_text())
    panels = dash["panels"]
    start = next(i for i, p in enumerate(panels) if p["type"] == "row" and p["title"].startswith("Firm"))
    return [t["expr"] for p in panels[start + 1 :] for t in p["targets"]]


def test_two_instances_share_the_budget_and_the_firm_view_shows_them(tmp_path: Path) -> None:
    url = fresh_pg_db()
    ports = {"desk-a": free_port(), "desk-b": free_port()}
    server, prom_port = start_prometheus(tmp_path, list(ports.values()))
    bots = []
    for bot_id, port in ports.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
            "CARRYBOT_BOT_ID": bot_id,
            "CARRYBOT_DB__URL": url,
            "CARRYBOT_FIRM__ENABLED": "true",
            "CARRYBOT_FIRM__NAME": "acme",
            "CARRYBOT_TELEMETRY__PORT": str(port),
            "CARRYBOT_DATA_DIR": str(tmp_path / bot_id),
            "CARRYBOT_REPLAY__START": "2024-02-01",
            "CARRYBOT_REPLAY__END": "2024-04-01",
            "CARRYBOT_LOG__LEVEL": "warning",
        }
        bots.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--pace", "300"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    exprs = _firm_view()
    try:
        deadline = time.monotonic() + 240  # the replay is paced to 300 s: the bots outlive every wait below
        empty = exprs
        while time.monotonic() < deadline and empty:  # rate() needs two scrapes after the series appeared
            time.sleep(1)
            assert all(b.poll() is None for b in bots), "an instance ended before the firm view filled"
            try:
                empty = [e for e in exprs if not _query(prom_port, e)]
            except OSError:
                continue
        assert not empty, f"no series for {empty}"
        equity = _query(prom_port, exprs[0])
        assert sorted(r["metric"]["bot_id"] for r in equity) == ["desk-a", "desk-b"]  # side by side
        gross_limit = _query(prom_port, 'max by (asset) (carrybot_firm_limit_usd{kind="gross"})')
        assert {r["metric"]["asset"]: float(r["value"][1]) for r in gross_limit} == {"BTC": 4e5, "ETH": 4e5}
        reserved: list = []
        while time.monotonic() < deadline and len(reserved) < 2:
            time.sleep(0.5)
            reserved = asyncio.run(
                pg_rows(url, "SELECT DISTINCT bot_id FROM firm_audit WHERE firm = 'acme' AND action = 'reserved'")
            )
        assert sorted(r[0] for r in reserved) == ["desk-a", "desk-b"]  # both entered through the firm
        rate = next(e for e in exprs if "carrybot_firm_reservations_total" in e)
        asked: set[str] = set()
        while time.monotonic() < deadline and len(asked) < 2:  # both instances' reservations show in the panel
            time.sleep(1)
            rows = [r for r in _query(prom_port, rate) if r["metric"]["outcome"] == "reserved"]
            asked = {r["metric"]["bot_id"] for r in rows if float(r["value"][1]) > 0}
        assert asked == {"desk-a", "desk-b"}
    finally:
        for p in (*bots, server):
            p.terminate()
        errs = [b.communicate(timeout=60)[1] for b in bots]
        server.wait(timeout=30)
    assert [b.returncode for b in bots] == [0, 0], errs
