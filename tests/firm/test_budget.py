"""The firm budget on a real PostgreSQL (CARRYBOT_TEST_PG_URL; .ci/run starts one): reservations and refusals,
audited; conversion as orders fill; expiry by lease; concurrent reservations never past a cap, checked from the
database while they race; and schema migrations started by several instances at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from bot.decisions import DenyCode
from bot.errors import ConfigError
from bot.firm.budget import FirmBudget
from bot.governor.rules_config import FirmConfig
from bot.store.repository import Store
from tests.firm.race import Churn, btc
from tests.pg import fresh_pg_db, pg_rows

CFG = FirmConfig()  # 400k gross on one asset


@pytest.fixture
def pg() -> str:
    url = fresh_pg_db()
    asyncio.run(Store(url).upgrade())
    return url


def test_reservations_refusals_and_conversion_are_kept_and_audited(pg: str) -> None:
    async def go() -> None:
        a, b = FirmBudget(pg, "desk", "a", CFG), FirmBudget(pg, "desk", "b", CFG)
        try:
            await a.join()
            await b.join()
            hit, _ = await a.reserve("a-d1", btc(240_000.0))
            assert hit is None
            hit, totals = await b.reserve("b-d1", btc(200_000.0))
            assert hit is not None and hit.code is DenyCode.FIRM_GROSS_ASSET
            assert totals.gross_by_asset == {"BTC": 240_000.0}
            # a's lead leg filled 100k of 120k, its hedge 60k: held 160k gross, 40k left to trade
            totals = await a.report(
                {"BTC": (160_000.0, 40_000.0)}, 300_000.0, 300_000.0, {"a-d1": btc(80_000.0, -40_000.0)}, {}
            )
            assert totals.gross_by_asset == {"BTC": 240_000.0} and totals.net_by_asset == {"BTC": 0.0}
            totals = await a.report({"BTC": (240_000.0, 0.0)}, 300_000.0, 300_000.0, {}, {"a-d1": True})
            assert totals.gross_by_asset == {"BTC": 240_000.0}  # converted: held now, no longer reserved
            hit, _ = await b.reserve("b-d2", btc(150_000.0))
            assert hit is None
        finally:
            await a.close()
            await b.close()
        audit = await pg_rows(pg, "SELECT bot_id, decision_id, action, code, numbers FROM firm_audit ORDER BY id")
        assert [(r[0], r[1], r[2], r[3]) for r in audit] == [
            ("a", "a-d1", "reserved", None),
            ("b", "b-d1", "refused", "firm_gross_asset"),
            ("a", "a-d1", "converted", None),
            ("b", "b-d2", "reserved", None),
        ]
        refused = json.loads(audit[1][4]) if isinstance(audit[1][4], str) else audit[1][4]
        assert refused["gross_usd"] == 240_000.0 and refused["added_usd"] == 200_000.0 and refused["cap_usd"] == 4e5

    asyncio.run(go())


def test_a_silent_instances_reservations_expire_with_its_lease_and_its_positions_still_count(pg: str) -> None:
    cfg = FirmConfig(lease_secs=1)

    async def go() -> None:
        a, b = FirmBudget(pg, "desk", "a", cfg), FirmBudget(pg, "desk", "b", cfg)
        try:
            await a.join()
            await b.join()
            await a.report({"BTC": (100_000.0, 0.0)}, 1.0, 1.0, {}, {})
            assert (await a.reserve("a-d1", btc(250_000.0)))[0] is None
            hit, _ = await b.reserve("b-d1", btc(200_000.0))
            assert hit is not None and hit.code is DenyCode.FIRM_GROSS_ASSET
            deadline = time.monotonic() + 20  # a says nothing more: its lease (1 s) runs out
            while True:
                hit, totals = await b.reserve("b-d2", btc(200_000.0))
                if hit is None or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert hit is None
            assert totals.gross_by_asset == {"BTC": 100_000.0}  # a's open positions, without its reservation
            assert totals.expired_instances == 1
            assert (await b.reserve("b-d3", btc(150_000.0)))[0] is not None  # 100k held + 200k + 150k > 400k
        finally:
            await a.close()
            await b.close()
        rows = await pg_rows(pg, "SELECT bot_id, decision_id, code FROM firm_audit WHERE action = 'expired'")
        assert rows == [("a", "a-d1", "lease")]

    asyncio.run(go())


def test_a_restarted_instance_expires_what_its_previous_life_reserved(pg: str) -> None:
    async def go() -> None:
        first = FirmBudget(pg, "desk", "a", CFG)
        await first.join()
        await first.reserve("a-d1", btc(100_000.0))
        await first.close()  # killed: nothing released
        second = FirmBudget(pg, "desk", "a", CFG)
        try:
            assert await second.join() == 1
            assert (await second.totals()).gross_by_asset == {}
        finally:
            await second.close()

    asyncio.run(go())


def test_eight_instances_racing_never_take_the_firm_past_its_caps(pg: str) -> None:
    """Eight instances, each with its own connections, reserve, fill, convert and release as fast as they can
    against a 400k budget; a ninth connection reads the totals from the database all along — not only at the end."""
    cfg = FirmConfig(max_gross_asset_usd=400_000, max_net_asset_usd=30_000, max_orders_per_minute=1_000_000)
    seen: list[tuple[float, float]] = []
    counts = {"reserved": 0, "refused": 0}

    async def bot(n: int) -> None:
        me = FirmBudget(pg, "race", f"bot{n}", cfg)
        await me.join()
        churn = Churn(me, n, max_gross=120_000.0, max_net=15_000.0)
        try:
            for i in range(25):
                await churn.entry(f"{n}-{i}")
        finally:
            await me.close()
        counts["reserved"] += churn.reserved
        counts["refused"] += churn.refused

    async def sampler(stop: asyncio.Event) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(pg)
        sql = text(
            "SELECT COALESCE(SUM(g), 0), COALESCE(SUM(n), 0) FROM ("
            " SELECT gross_usd AS g, net_usd AS n FROM firm_exposure WHERE firm = 'race' AND asset = 'BTC'"
            " UNION ALL SELECT remaining_gross_usd, remaining_net_usd FROM firm_reservations"
            " WHERE firm = 'race' AND asset = 'BTC' AND status = 'active') x"
        )
        try:
            async with engine.connect() as conn:
                while not stop.is_set():
                    g, net = (await conn.execute(sql)).one()
                    await conn.commit()
                    seen.append((float(g), float(net)))
        finally:
            await engine.dispose()

    async def go() -> None:
        stop = asyncio.Event()
        watch = asyncio.create_task(sampler(stop))
        await asyncio.gather(*(bot(n) for n in range(8)))
        stop.set()
        await watch

    asyncio.run(go())
    assert counts["reserved"] >= 10 and counts["refused"] >= 10  # a real race: both happened, many times
    assert len(seen) >= 20
    assert max(g for g, _ in seen) <= 400_000 + 1e-6
    assert max(abs(n) for _, n in seen) <= 30_000 + 1e-6


_MIGRATE = """
import asyncio, sys
from bot.store.repository import Store
print("ready", flush=True)
sys.stdin.readline()  # the start line: every process migrates at the same moment
asyncio.run(Store(sys.argv[1]).upgrade())
"""


def test_instances_starting_together_migrate_the_shared_schema_once() -> None:
    """Kubernetes starts every pod of a firm at once on one database: all but one used to crash on
    CREATE TABLE alembic_version (UniqueViolation). Four processes, released together, migrate a new database."""
    url = fresh_pg_db()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-300:] for _, err in results]
    assert asyncio.run(pg_rows(url, "SELECT version_num FROM alembic_version")) == [("0005",)]


def test_an_instance_whose_firm_limits_differ_from_the_live_ones_is_refused_at_join(pg: str) -> None:
    async def go() -> None:
        a = FirmBudget(pg, "desk", "a", CFG)
        b = FirmBudget(pg, "desk", "b", FirmConfig(max_gross_asset_usd=900_000, max_gross_total_usd=2_000_000))
        try:
            await a.join()
            with pytest.raises(ConfigError, match=r"invalid rules firm: .* differ from those of a"):
                await b.join()
            other = FirmBudget(pg, "other-firm", "b", b.cfg)  # another firm in the same database: its own limits
            assert await other.join() == 0
            await other.close()
        finally:
            await a.close()
            await b.close()

    asyncio.run(go())
