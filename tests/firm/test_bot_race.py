"""Four ``carrybot run`` instances race their entries against one small firm budget on a real PostgreSQL (issue 18).

The replay is flat (every price constant, so a position's exposure at mark is exactly what its entry reserved) with
funding that turns on and off, so the instances enter, exit and enter again, all at the same moments. A separate
connection reads the firm's totals from the database all through the race: held plus reserved never exceeds the caps.
One instance is SIGKILLed while it holds positions: its reservations are expired by its lease, its positions still
count, and the survivors go on entering after it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store.repository import Store
from tests.pg import fresh_pg_db

pytestmark = pytest.mark.campaign  # four bot processes: a step of its own in .ci/run

CAP_GROSS, CAP_NET = 300_000.0, 40_000.0
RULES = f"""
firm:
  max_gross_asset_usd: {CAP_GROSS:.0f}
  max_net_asset_usd: {CAP_NET:.0f}
  max_gross_total_usd: {CAP_GROSS:.0f}
  max_net_total_usd: {CAP_NET:.0f}
  max_orders_per_minute: 100000
  lease_secs: 3
"""
TOTALS = (
    "SELECT COALESCE(SUM(g), 0), COALESCE(SUM(n), 0) FROM ("
    " SELECT gross_usd AS g, net_usd AS n FROM firm_exposure WHERE firm = 'race'"
    " UNION ALL SELECT r.remaining_gross_usd, r.remaining_net_usd FROM firm_reservations r"
    " JOIN firm_instances i ON i.firm = r.firm AND i.bot_id = r.bot_id"
    " WHERE r.firm = 'race' AND r.status = 'active'"
    " AND i.lease_until_ns >= (extract(epoch from clock_timestamp()) * 1e9)::bigint) x"
)


def _flat_replay(path: Path) -> None:
    """60 days of 8h bars on Binance and Bybit, BTC at 60,000 (a 0.05 % range so that post-only orders fill);
    funding 0.05 % for three days, then -0.01 % for two, and so on."""
    rows = ["ts,venue,base,kind,open,high,low,close,volume,funding_rate"]
    start = 1_704_067_200  # 2024-01-01
    for i in range(180):
        rate = "0.0005" if (i // 9) % 5 < 3 else "-0.0001"
        for venue in ("binance", "bybit"):
            for kind in ("spot", "perp"):
                fund = rate if kind == "perp" else ""
                rows.append(f"{start + i * 28_800},{venue},BTC,{kind},60000,60030,59970,60000,1000,{fund}")
    path.write_text("\n".join(rows) + "\n")


def test_four_instances_racing_keep_the_firm_caps_and_survive_a_killed_one(tmp_path: Path) -> None:
    url = fresh_pg_db()
    asyncio.run(Store(url).upgrade())
    data, rules = tmp_path / "flat.csv", tmp_path / "rules.yaml"
    _flat_replay(data)
    rules.write_text(RULES)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CARRYBOT_")} | {
        "CARRYBOT_DB__URL": url,
        "CARRYBOT_FIRM__ENABLED": "true",
        "CARRYBOT_FIRM__NAME": "race",
        "CARRYBOT_FIRM__SYNC_SECS": "0.2",
        "CARRYBOT_RULES_FILE": str(rules),
        "CARRYBOT_REPLAY__FILE": str(data),
        "CARRYBOT_REPLAY__VENUES": '["binance","bybit"]',
        "CARRYBOT_REPLAY__BASES": '["BTC"]',
        "CARRYBOT_TELEMETRY__PORT": "0",
        "CARRYBOT_LOG__LEVEL": "error",
        "CARRYBOT_STRATEGY__S1__FUNDING_LOOKBACK_PERIODS": "1",
        "CARRYBOT_STRATEGY__S1__PERSISTENCE_PERIODS": "1",
        "CARRYBOT_STRATEGY__S1__ENTRY_THRESHOLD_APR": "0.12",
        "CARRYBOT_STRATEGY__S1__EXIT_THRESHOLD_APR": "0.11",
        "CARRYBOT_STRATEGY__S1__HOLDING_DAYS": "365",
    }
    bots = {
        f"bot{n}": subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--pace", "40"],
            env=base_env | {"CARRYBOT_BOT_ID": f"bot{n}", "CARRYBOT_DATA_DIR": str(tmp_path / f"bot{n}")},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    }
    samples: list[tuple[float, float]] = []
    found: dict[str, int] = {}

    async def watch() -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url)
        killed_ns = 0
        try:
            async with engine.connect() as conn:
                deadline = time.monotonic() + 150
                while time.monotonic() < deadline and any(b.poll() is None for b in bots.values()):
                    g, n = (await conn.execute(text(TOTALS))).one()
                    samples.append((float(g), float(n)))
                    if not killed_ns:
                        holders = (
                            await conn.execute(
                                text("SELECT bot_id FROM firm_exposure WHERE firm = 'race' AND gross_usd > 0")
                            )
                        ).all()
                        if holders:  # the first instance that holds positions dies
                            victim = holders[0][0]
                            bots[victim].send_signal(signal.SIGKILL)
                            bots[victim].wait()
                            killed_ns, found["victim"] = time.time_ns(), int(victim[3:])
                    await conn.commit()
                counts = (
                    await conn.execute(
                        text(
                            "SELECT (SELECT COUNT(*) FROM firm_reservations WHERE firm = 'race' AND created_ns > :k "
                            "AND bot_id <> :v), (SELECT COUNT(*) FROM firm_audit WHERE firm = 'race' AND "
                            "action = 'refused'), (SELECT COUNT(*) FROM firm_reservations WHERE firm = 'race' "
                            "AND bot_id = :v AND status = 'active'), (SELECT COUNT(*) FROM firm_exposure WHERE "
                            "firm = 'race' AND bot_id = :v)"
                        ),
                        {"k": killed_ns, "v": f"bot{found.get('victim', -1)}"},
                    )
                ).one()
                found.update(zip(("after_kill", "refused", "victim_active", "victim_exposure"), counts, strict=True))
        finally:
            await engine.dispose()

    try:
        asyncio.run(watch())
    finally:
        for b in bots.values():
            if b.poll() is None:
                b.terminate()
        errs = {k: b.communicate(timeout=90)[1] for k, b in bots.items()}
    print(f"race: {found}, {len(samples)} samples, gross max {max(g for g, _ in samples):,.0f} of {CAP_GROSS:,.0f}")
    survivors = {k: b.returncode for k, b in bots.items() if k != f"bot{found['victim']}"}
    assert list(survivors.values()) == [0, 0, 0], errs
    assert found["after_kill"] >= 3, found  # the survivors went on entering after the kill
    assert found["refused"] >= 1, found  # the budget was contended: some entries were refused
    assert found["victim_active"] == 0 and found["victim_exposure"] >= 1, found  # expired; its positions still count
    assert len(samples) >= 50
    assert max(g for g, _ in samples) <= CAP_GROSS * (1 + 1e-9), max(samples)
    assert max(abs(n) for _, n in samples) <= CAP_NET * (1 + 1e-9)
