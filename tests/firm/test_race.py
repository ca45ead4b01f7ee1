"""Six instances, each its own process, race entries against a small firm budget on a real PostgreSQL: the caps
hold at every moment (read from the database all along, not only at the end), nothing deadlocks, a SIGKILLed
instance's reservation is released by its lease, and the survivors go on reserving after it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.store.repository import Store
from tests.firm.race import CFG
from tests.pg import fresh_pg_db

_TOTALS = (
    "SELECT COALESCE(SUM(g), 0), COALESCE(SUM(n), 0) FROM ("
    " SELECT gross_usd AS g, net_usd AS n FROM firm_exposure WHERE firm = 'race' AND asset = 'BTC'"
    " UNION ALL SELECT remaining_gross_usd, remaining_net_usd FROM firm_reservations r"
    " JOIN firm_instances i ON i.firm = r.firm AND i.bot_id = r.bot_id"
    " WHERE r.firm = 'race' AND r.asset = 'BTC' AND r.status = 'active'"
    " AND i.lease_until_ns >= (extract(epoch from clock_timestamp()) * 1e9)::bigint) x"
)


def _spawn(url: str, bot_id: str, seed: int, stop: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.firm.race", url, bot_id, str(seed), str(stop), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )


def test_racing_instances_keep_the_caps_and_survive_a_killed_one(tmp_path: Path) -> None:
    url = fresh_pg_db()
    asyncio.run(Store(url).upgrade())
    stop = tmp_path / "stop"
    victim = _spawn(url, "victim", 0, stop, "--victim")
    assert victim.stdout is not None and victim.stdout.readline().strip() == "holding"
    racers = [_spawn(url, f"bot{n}", n, stop) for n in range(5)]
    samples: list[tuple[float, float]] = []
    killed_ns = 0

    async def watch() -> dict[str, int]:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        nonlocal killed_ns
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    g, n = (await conn.execute(text(_TOTALS))).one()
                    samples.append((float(g), float(n)))
                    if not killed_ns and len(samples) >= 50:
                        victim.send_signal(signal.SIGKILL)  # holding 150k, its lease current
                        victim.wait()
                        killed_ns = time.time_ns()
                    if killed_ns:
                        after = (
                            await conn.execute(
                                text(
                                    "SELECT (SELECT COUNT(*) FROM firm_audit WHERE bot_id = 'victim' AND "
                                    "action = 'expired' AND code = 'lease'), (SELECT COUNT(*) FROM "
                                    "firm_reservations WHERE bot_id <> 'victim' AND created_ns > :k)"
                                ),
                                {"k": killed_ns},
                            )
                        ).one()
                        if after[0] >= 1 and after[1] >= 20:
                            return {"expired": int(after[0]), "after_kill": int(after[1])}
                    await conn.commit()
        finally:
            await engine.dispose()
        return {}

    try:
        seen = asyncio.run(watch())
    finally:
        stop.touch()
        outs = [r.communicate(timeout=60) for r in racers]
        if victim.poll() is None:
            victim.kill()
    assert seen, "the victim's reservation was not expired, or the survivors stopped reserving"
    assert [r.returncode for r in racers] == [0] * 5, [err[-400:] for _, err in outs]
    reserved = sum(out.count("reserved") for out, _ in outs)
    refused = sum(out.count("refused") for out, _ in outs)
    assert reserved >= 20 and refused >= 10  # a real race: both, many times
    assert len(samples) >= 50
    assert max(g for g, _ in samples) <= CFG.max_gross_asset_usd + 1e-6
    assert max(abs(n) for _, n in samples) <= CFG.max_net_asset_usd + 1e-6
