"""The store: async SQLAlchemy 2 over SQLite (default, a file under the data directory) or PostgreSQL (by URL).

Schema changes are Alembic revisions (``carrybot db upgrade``; also run at start-up). Inserts of venue facts are
idempotent (``ON CONFLICT DO NOTHING`` on their natural keys), so reconciliation after a crash may offer the same fill
or funding payment twice and the store keeps one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.store.models import (
    BorrowRow,
    CommandNonceRow,
    DecisionRow,
    EquityRow,
    FillRow,
    FundingRow,
    GovernorStateRow,
    LadderRow,
    OrderRow,
    PairRow,
    PositionRow,
    Run,
    TransitionRow,
)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Any:
    from alembic.config import Config  # imported when migrating only: alembic is heavy to import

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def sqlite_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(data_dir / 'carrybot.db').resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL with ``synchronous=NORMAL``: a commit is in the WAL file (the OS has it) when it returns, so a SIGKILL of
    the bot loses nothing committed; a power cut or kernel crash can lose the tick commits since the last
    write-ahead of orders (those are ``FULL``, see ``write_orders``), which start-up reconciliation recovers from
    the venues' own history (fills, funding, borrow) — never an order the bot sent."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_ORDER_UPDATE = update(OrderRow).where(OrderRow.client_order_id == bindparam("cid")).values(
    status=bindparam("st"), filled_qty=bindparam("fq"), reason=bindparam("rs"), ts_updated_ns=bindparam("ts"))


@dataclass(slots=True)
class TickRecords:
    """Everything one tick produced, committed in one transaction with the tick's cursor."""

    cursor_ns: int | None = None
    order_updates: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    borrow: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    equity: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    governor_state: dict[str, Any] | None = None

    def empty(self) -> bool:
        return self.cursor_ns is None and not any((self.order_updates, self.fills, self.funding, self.borrow,
                                                   self.decisions, self.transitions, self.ladder, self.equity,
                                                   self.positions, self.pairs, self.governor_state))


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        self._sqlite = url.startswith("sqlite")
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=2, max_overflow=2)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self._sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._session = async_sessionmaker(self.engine, expire_on_commit=False)
        self._dialect = self.engine.dialect.name

    # --- schema ----------------------------------------------------------------------------------------------------
    async def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        # alembic's env.py runs its own event loop: keep it off ours
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), revision)

    async def downgrade(self, revision: str) -> None:
        from alembic import command

        await asyncio.to_thread(command.downgrade, alembic_config(self.url), revision)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"; the caller counts and reports it
            return False

    # --- runs -------------------------------------------------------------------------------------------------------
    async def open_run(self, run_key: str, mode: str, params: dict[str, Any], data_version: str, code_version: str,
                       now_ns: int) -> Run:
        """The unfinished run with this key (a restart), or a new one."""
        async with self._session.begin() as s:
            run = (await s.execute(select(Run).where(Run.run_key == run_key))).scalar_one_or_none()
            if run is not None:
                if run.status == "running":
                    run.restarts += 1
                    run.updated_ns = now_ns
                    return run
                raise ValueError(f"run {run_key!r} already finished; choose another run key")
            run = Run(run_key=run_key, mode=mode, status="running", started_ns=now_ns, updated_ns=now_ns,
                      cursor_ns=None, restarts=0, data_version=data_version, code_version=code_version, params=params)
            s.add(run)
            await s.flush()
            return run

    async def finish_run(self, run_id: int, results: dict[str, Any], now_ns: int) -> None:
        async with self._session.begin() as s:
            await s.execute(update(Run).where(Run.id == run_id).values(status="finished", results=results,
                                                                      updated_ns=now_ns))

    async def runs(self) -> list[Run]:
        async with self._session() as s:
            return list((await s.execute(select(Run).order_by(Run.id))).scalars())

    # --- write-ahead orders -----------------------------------------------------------------------------------------
    async def write_orders(self, rows: Sequence[dict[str, Any]]) -> None:
        """Commit orders *before* they are sent. A client order id already present is left as it is. On SQLite this
        commit is ``synchronous=FULL``: it reaches the disk (and with it every earlier commit in the WAL)."""
        async with self.engine.connect() as conn:
            if self._sqlite:
                await conn.exec_driver_sql("PRAGMA synchronous=FULL")
                await conn.commit()
            try:
                async with conn.begin():
                    await self._insert_ignore(conn, OrderRow, rows)
            finally:
                if self._sqlite:
                    await conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    await conn.commit()

    # --- ticks -------------------------------------------------------------------------------------------------------
    async def commit_tick(self, run_id: int, rec: TickRecords, now_ns: int) -> None:
        """One transaction per tick, one statement per kind of record (Core ``insert`` of all its rows)."""
        async with self.engine.begin() as conn:
            await self._insert_ignore(conn, FillRow, rec.fills)
            await self._insert_ignore(conn, FundingRow, rec.funding)
            await self._insert_ignore(conn, BorrowRow, rec.borrow)
            await self._insert_ignore(conn, DecisionRow, rec.decisions)
            await self._insert_ignore(conn, EquityRow, rec.equity)
            if rec.transitions:
                await conn.execute(insert(TransitionRow), [{"run_id": run_id, **t} for t in rec.transitions])
            if rec.ladder:
                await conn.execute(insert(LadderRow), [{"run_id": run_id, **e} for e in rec.ladder])
            if rec.order_updates:
                await conn.execute(_ORDER_UPDATE, [{"cid": u["client_order_id"], "st": u["status"],
                                                    "fq": u["filled_qty"], "rs": u["reason"], "ts": u["ts_ns"]}
                                                   for u in rec.order_updates])
            await self._upsert(conn, PositionRow, rec.positions, ("run_id", "instrument_id"))
            await self._upsert(conn, PairRow, rec.pairs, ("run_id", "decision_id"))
            if rec.governor_state is not None:
                await self._upsert(conn, GovernorStateRow, [{"run_id": run_id, "ts_ns": now_ns,
                                                             "state": rec.governor_state}], ("run_id",))
            values: dict[str, Any] = {"updated_ns": now_ns}
            if rec.cursor_ns is not None:
                values["cursor_ns"] = rec.cursor_ns
            await conn.execute(update(Run).where(Run.id == run_id).values(**values))

    def _ins(self, model: type) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(model)

    async def _insert_ignore(self, conn: AsyncConnection | AsyncSession, model: type,
                             rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await conn.execute(self._ins(model).on_conflict_do_nothing(), list(rows))

    async def _upsert(self, conn: AsyncConnection | AsyncSession, model: type, rows: Sequence[dict[str, Any]],
                      keys: tuple[str, ...]) -> None:
        """Insert or update all ``rows`` in one statement (they share their columns)."""
        if not rows:
            return
        ins = self._ins(model)
        cols = [c for c in rows[0] if c not in keys]
        await conn.execute(ins.on_conflict_do_update(index_elements=list(keys),
                                                     set_={c: ins.excluded[c] for c in cols}), list(rows))

    # --- operator command nonces -------------------------------------------------------------------------------------
    async def command_nonces(self, bot_id: str, now_ns: int) -> dict[str, int]:
        """Nonces still inside their freshness window (nonce -> when seen, ns); expired ones are deleted."""
        async with self._session.begin() as s:
            await s.execute(delete(CommandNonceRow).where(CommandNonceRow.bot_id == bot_id,
                                                          CommandNonceRow.expires_ns < now_ns))
            rows = (await s.execute(select(CommandNonceRow).where(CommandNonceRow.bot_id == bot_id))).scalars()
            return {r.nonce: r.seen_ns for r in rows}

    async def add_command_nonce(self, bot_id: str, nonce: str, seen_ns: int, expires_ns: int) -> None:
        async with self._session.begin() as s:
            await self._insert_ignore(s, CommandNonceRow, [{"bot_id": bot_id, "nonce": nonce, "seen_ns": seen_ns,
                                                             "expires_ns": expires_ns}])

    # --- reads -------------------------------------------------------------------------------------------------------
    async def _all(self, model: type, run_id: int, order: Any) -> list[Any]:
        async with self._session() as s:
            return list((await s.execute(select(model).where(model.run_id == run_id).order_by(order))).scalars())

    async def orders(self, run_id: int) -> list[OrderRow]:
        return await self._all(OrderRow, run_id, OrderRow.id)

    async def fills(self, run_id: int) -> list[FillRow]:
        return await self._all(FillRow, run_id, FillRow.id)

    async def funding(self, run_id: int) -> list[FundingRow]:
        return await self._all(FundingRow, run_id, FundingRow.id)

    async def borrow(self, run_id: int) -> list[BorrowRow]:
        return await self._all(BorrowRow, run_id, BorrowRow.id)

    async def decisions(self, run_id: int) -> list[DecisionRow]:
        return await self._all(DecisionRow, run_id, DecisionRow.id)

    async def transitions(self, run_id: int) -> list[TransitionRow]:
        return await self._all(TransitionRow, run_id, TransitionRow.id)

    async def equity(self, run_id: int) -> list[EquityRow]:
        return await self._all(EquityRow, run_id, EquityRow.ts_ns)

    async def positions(self, run_id: int) -> dict[str, Decimal]:
        return {p.instrument_id: p.qty for p in await self._all(PositionRow, run_id, PositionRow.id)}

    async def governor_state(self, run_id: int) -> dict[str, Any] | None:
        async with self._session() as s:
            row = await s.get(GovernorStateRow, run_id)
            return None if row is None else row.state
