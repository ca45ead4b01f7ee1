import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.domain import Fill, FundingPayment, Liquidity, Order, OrderType, Purpose, Side
from bot.store import Store, TickRecords
from bot.store.models import FundingRow
from bot.store.recorder import Recorder, fill_row, funding_row, order_row

D = Decimal


def _order(cid: str) -> Order:
    return Order(
        cid,
        "i",
        "d-i",
        "binance:BTC/USDT",
        Side.BUY,
        D("0.5"),
        OrderType.LIMIT,
        Purpose.ENTRY,
        1,
        D("59995.5"),
        True,
        False,
        None,
        60_000.0,
        59_995.5,
    )


async def _store(url: str) -> tuple[Store, int]:
    store = Store(url)
    await store.upgrade()
    run = await store.open_run("bot:1", "paper", {"x": 1}, "dv", "0.1.0", 1)
    return store, run.id


def test_migrations_upgrade_downgrade_one_step_and_upgrade_again(db_url: str) -> None:
    async def go() -> None:
        store = Store(db_url)
        await store.upgrade()
        assert await store.ping()
        await store.open_run("bot:1", "paper", {}, "dv", "0.1.0", 1)
        await store.add_command_nonce("bot", "n-00000001", 1, 2)
        (run,) = await store.runs()
        assert await store.transfers(run.id) == [] and await store.fills(run.id) == []
        firm_rows = text("SELECT COUNT(*) FROM firm_reservations")
        async with store.engine.connect() as conn:
            assert (await conn.execute(firm_rows)).scalar_one() == 0
        await store.downgrade("-1")  # one step: the firm budget's tables go, the rest stays
        with pytest.raises(Exception):  # noqa: B017 - any driver error: the table does not exist
            async with store.engine.connect() as conn:
                await conn.execute(firm_rows)
        assert await store.fills(run.id) == []
        await store.downgrade("-1")  # one more: fills lose fee_qty (the ORM's fills read fails), the rest stays
        with pytest.raises(Exception):  # noqa: B017 - any driver error: the column does not exist
            await store.fills(run.id)
        assert await store.transfers(run.id) == []
        await store.downgrade("-1")  # one more: the transfers table goes, the nonces and runs stay
        with pytest.raises(Exception):  # noqa: B017 - any driver error: the table does not exist
            await store.transfers(run.id)
        assert await store.command_nonces("bot", 0) != {}
        await store.downgrade("-1")  # one more: the nonce table goes, the runs stay
        with pytest.raises(Exception):  # noqa: B017 - any driver error: the table does not exist
            await store.command_nonces("bot", 0)
        assert len(await store.runs()) == 1
        await store.downgrade("base")  # every step: the schema is gone
        with pytest.raises(Exception):  # noqa: B017
            await store.runs()
        await store.upgrade()
        assert await store.runs() == [] and await store.command_nonces("bot", 0) == {}
        await store.close()

    asyncio.run(go())


def test_orders_are_written_ahead_once_and_fills_and_funding_are_idempotent(db_url: str) -> None:
    async def go() -> None:
        store, run_id = await _store(db_url)
        await store.write_orders([order_row(run_id, "binance", _order("r1-a-0"))])
        await store.write_orders([order_row(run_id, "binance", _order("r1-a-0"))])  # a retry keeps one row
        (row,) = await store.orders(run_id)
        assert (row.status, row.qty, row.limit_price) == ("pending", D("0.5"), D("59995.5"))
        fill = Fill(
            "binance",
            "t1",
            "r1-a-0",
            "binance:BTC/USDT",
            Side.BUY,
            D("0.5"),
            D("59995.5"),
            D("29.99775"),
            Liquidity.MAKER,
            5,
        )
        pay = FundingPayment("binance", "binance:BTC/USDT:USDT", 8, D("0.0001"), D("-0.5"), D("60000"), D("3"))
        other = FundingPayment("binance", "binance:ETH/USDT:USDT", 8, D("0.0001"), D("-5"), D("3000"), D("1.5"))
        for _ in range(2):  # reconciliation may offer the same venue facts again
            rec = TickRecords(
                cursor_ns=8,
                fills=[fill_row(run_id, fill)],
                funding=[funding_row(run_id, pay), funding_row(run_id, other)],
            )
            rec.order_updates.append(
                {"client_order_id": "r1-a-0", "status": "filled", "filled_qty": D("0.5"), "reason": None, "ts_ns": 5}
            )
            await store.commit_tick(run_id, rec, 9)
        assert [f.trade_id for f in await store.fills(run_id)] == ["t1"]
        funding = await store.funding(run_id)
        assert sorted(p.instrument_id for p in funding) == ["binance:BTC/USDT:USDT", "binance:ETH/USDT:USDT"]
        assert (await store.orders(run_id))[0].status == "filled"
        assert (await store.runs())[0].cursor_ns == 8
        await store.close()

    asyncio.run(go())


def test_a_duplicate_funding_payment_is_impossible_by_constraint(db_url: str) -> None:
    async def go() -> None:
        store, run_id = await _store(db_url)
        row = funding_row(run_id, FundingPayment("okx", "okx:BTC/USDT:USDT", 8, D("0.0001"), D("-1"), D("1"), D("1")))
        async with store._session.begin() as s:  # a plain INSERT, no ON CONFLICT: the constraint itself says no
            s.add(FundingRow(**row))
        with pytest.raises(IntegrityError):
            async with store._session.begin() as s:
                s.add(FundingRow(**row))
        await store.close()

    asyncio.run(go())


def test_runs_resume_and_governor_state_round_trips(db_url: str) -> None:
    async def go() -> None:
        store, run_id = await _store(db_url)
        state = {"trading_state": "reducing", "ladders": [["BTC", "crowding", 2]], "peak_equity": 1.5}
        await store.commit_tick(run_id, TickRecords(cursor_ns=16, governor_state=state), 17)
        again = await store.open_run("bot:1", "paper", {}, "dv", "0.1.0", 20)
        assert (again.id, again.restarts, again.cursor_ns) == (run_id, 1, 16)
        assert await store.governor_state(run_id) == state
        await store.finish_run(run_id, {"ok": True}, 30)
        with pytest.raises(ValueError, match="already finished"):
            await store.open_run("bot:1", "paper", {}, "dv", "0.1.0", 40)
        await store.close()

    asyncio.run(go())


def test_recorder_buffers_through_an_outage_and_loses_nothing(tmp_path) -> None:
    """The store disappears (its file is replaced by a directory), then comes back."""

    async def go() -> None:
        path = tmp_path / "s.db"
        store, run_id = await _store(f"sqlite+aiosqlite:///{path}")
        rec = Recorder(store, run_id)
        await store.close()
        path.rename(tmp_path / "moved.db")
        path.mkdir()  # the database is gone: every write fails
        assert not await rec.write_ahead({"binance:BTC/USDT": "binance"}, [_order("r1-b-0")])
        rec.handle(
            Fill("binance", "t9", "r1-b-0", "binance:BTC/USDT", Side.BUY, D("0.5"), D("1"), D("0"), Liquidity.TAKER, 5)
        )
        await rec.commit(8, 9, None, {}, {"trading_state": "active"}, [])
        assert not rec.healthy and rec.backlog == 2 and rec.failures >= 2
        path.rmdir()
        (tmp_path / "moved.db").rename(path)  # back
        await rec.flush()
        assert rec.healthy and rec.backlog == 0
        assert [o.client_order_id for o in await store.orders(run_id)] == ["r1-b-0"]
        assert [f.trade_id for f in await store.fills(run_id)] == ["t9"]
        await store.close()

    asyncio.run(go())


def test_a_migration_killed_half_way_leaves_no_half_made_schema(tmp_path) -> None:
    """SIGKILL during the first `db upgrade`, many times at random moments: the next upgrade always works."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    rng = random.Random(3)
    code = "import asyncio, sys; from bot.store import Store\nasyncio.run(Store(sys.argv[1]).upgrade())"
    for k in range(12):
        url = f"sqlite+aiosqlite:///{tmp_path / f'm{k}.db'}"
        proc = subprocess.Popen([sys.executable, "-c", code, url], env=os.environ.copy())
        time.sleep(rng.uniform(0.2, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()

        async def again(url: str = url) -> None:
            store = Store(url)
            await store.upgrade()
            await store.open_run("bot:1", "paper", {}, "dv", "0.1.0", 1)
            await store.close()

        asyncio.run(again())


def _schema(path) -> dict[str, object]:
    """A SQLite file's schema as SQLAlchemy reads it back: every table's columns, keys, indexes and constraints."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(f"sqlite:///{path}")
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for t in sorted(insp.get_table_names()):
            out[t] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
                "pk": insp.get_pk_constraint(t)["constrained_columns"],
                "indexes": sorted((tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
                "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in insp.get_foreign_keys(t)
                ),
            }
        with engine.connect() as conn:
            out["alembic_version"] = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        return out
    finally:
        engine.dispose()


def test_schema_head_is_alembics_head() -> None:
    """The fast start-up path stamps SCHEMA_HEAD: it must be the newest migration, or a new migration would be
    skipped on every store already stamped with the old head."""
    from alembic.script import ScriptDirectory

    from bot.store.repository import SCHEMA_HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == SCHEMA_HEAD


def test_a_new_sqlite_store_gets_the_schema_the_migrations_build(tmp_path) -> None:
    """A new SQLite file skips Alembic at start-up (the models' schema and the stamp in one transaction); what it
    gets must be what the migrations build, column for column and index for index — and the next migration or a
    downgrade then applies to it as to any other (the up/down test above runs on such a file)."""
    from alembic import command

    from bot.store.repository import alembic_config

    fast, migrated = tmp_path / "fast.db", tmp_path / "migrated.db"
    asyncio.run(Store(f"sqlite+aiosqlite:///{fast}").upgrade())
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{migrated}"), "head")
    assert _schema(fast) == _schema(migrated)


def test_a_store_at_an_older_revision_is_migrated_not_skipped(tmp_path) -> None:
    """The fast path only skips Alembic for a file already at the head: one a revision behind is upgraded."""
    from alembic import command

    from bot.store.repository import alembic_config

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0003")
    asyncio.run(Store(url).upgrade())
    assert _schema(path)["alembic_version"] == "0005"
    assert "fee_qty" in [c[0] for c in _schema(path)["fills"]["columns"]]  # type: ignore[index]
