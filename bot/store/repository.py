"""The store: async SQLAlchemy 2 over SQLite (default, a file under the data directory) or PostgreSQL (by URL).

Schema changes are Alembic revisions (``carrybot db upgrade``; also run at start-up). Inserts of venue facts are
idempotent (``ON CONFLICT DO NOTHING`` on their natural keys), so reconciliation after a crash may offer the same fill
or funding payment twice and the store keeps one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from bot.store.models import (
    Base,
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
    TransferRow,
    TransitionRow,
)

MIGRATIONS = Path(__file__).parent / "migrations"
# the newest revision under migrations/versions (a test holds this to Alembic's own head)
SCHEMA_HEAD = "0005"


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


def _no_driver_transactions(dbapi_conn: Any, _record: Any) -> None:
    # Python's sqlite3 driver commits DDL on its own; with its transactions off, CREATE TABLE ... and the Alembic
    # stamp commit together (SQLAlchemy's recipe for transactional DDL on SQLite, as in migrations/env.py)
    dbapi_conn.isolation_level = None


def _insert_for(dialect: str) -> Any:
    """The backend's ``insert`` with ON CONFLICT, imported for the backend in use only (PostgreSQL's dialect and
    driver are a fiftieth of a second of every SQLite bot's start-up)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_ORDER_UPDATE = (
    update(OrderRow)
    .where(OrderRow.client_order_id == bindparam("cid"))
    .values(status=bindparam("st"), filled_qty=bindparam("fq"), reason=bindparam("rs"), ts_updated_ns=bindparam("ts"))
)


@dataclass(slots=True)
class TickRecords:
    """Everything one tick produced, committed in one transaction with the tick's cursor."""

    cursor_ns: int | None = None
    order_updates: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    borrow: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    equity: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    governor_state: dict[str, Any] | None = None

    def empty(self) -> bool:
        return self.cursor_ns is None and not any(
            (
                self.order_updates,
                self.fills,
                self.funding,
                self.borrow,
                self.transfers,
                self.decisions,
                self.transitions,
                self.ladder,
                self.equity,
                self.positions,
                self.pairs,
                self.governor_state,
            )
        )


@dataclass(frozen=True, slots=True)
class OrderBatch:
    """Orders to write ahead of sending them (``order_row`` dicts)."""

    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TickBatch:
    """One closed tick, or a group of them (``ticks`` counts them), and the time it closed."""

    rec: TickRecords
    now_ns: int
    ticks: int = 1


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
        self._insert = _insert_for(self._dialect)
        self._ignoring: dict[type, Any] = {}
        self._upserts: dict[tuple[type, tuple[str, ...], tuple[str, ...]], Any] = {}
        # SQLite: orders and ticks are written on one thread of the store's own, with the stdlib driver
        self._sync: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self._sqlite:
            self._sync = create_engine(
                url.replace("sqlite+aiosqlite", "sqlite", 1),
                connect_args={"timeout": 30, "check_same_thread": False},
                poolclass=StaticPool,
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="carrybot-store")

    # --- schema ----------------------------------------------------------------------------------------------------
    async def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``. On SQLite two common cases skip Alembic (a fifth of a second of import
        and start-up on every ``carrybot run``): a database already at ``SCHEMA_HEAD``, and a new, empty file, which
        gets the models' schema and the Alembic stamp in one transaction — the schema the migrations build (a test
        compares the two), so later migrations apply to it as to any other."""
        if self._sqlite and revision == "head" and await asyncio.to_thread(self._sqlite_fast_upgrade):
            return
        from alembic import command

        # alembic's env.py runs its own event loop: keep it off ours
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), revision)

    def _sqlite_fast_upgrade(self) -> bool:
        """True if the file is at ``SCHEMA_HEAD`` or was empty and now is; False leaves the work to Alembic."""
        engine = create_engine(self.url.replace("sqlite+aiosqlite", "sqlite", 1), connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _no_driver_transactions)
        event.listen(engine, "begin", _begin_immediate)
        try:
            with engine.begin() as conn:  # BEGIN IMMEDIATE: a second bot starting on the same file waits here
                tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
                if "alembic_version" in tables:
                    version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one_or_none()
                    return version == SCHEMA_HEAD
                if tables:
                    return False
                Base.metadata.create_all(conn)
                conn.exec_driver_sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
                conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (SCHEMA_HEAD,))
                return True
        finally:
            engine.dispose()

    async def downgrade(self, revision: str) -> None:
        from alembic import command

        await asyncio.to_thread(command.downgrade, alembic_config(self.url), revision)

    async def close(self) -> None:
        """Close every connection (a later call opens new ones)."""
        await self.engine.dispose()
        if self._sync is not None:
            self._sync.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"; the caller counts and reports it
            return False

    # --- runs -------------------------------------------------------------------------------------------------------
    async def open_run(
        self, run_key: str, mode: str, params: dict[str, Any], data_version: str, code_version: str, now_ns: int
    ) -> Run:
        """The unfinished run with this key (a restart), or a new one."""
        async with self._session.begin() as s:
            run = (await s.execute(select(Run).where(Run.run_key == run_key))).scalar_one_or_none()
            if run is not None:
                if run.status == "running":
                    run.restarts += 1
                    run.updated_ns = now_ns
                    return run
                raise ValueError(f"run {run_key!r} already finished; choose another run key")
            run = Run(
                run_key=run_key,
                mode=mode,
                status="running",
                started_ns=now_ns,
                updated_ns=now_ns,
                cursor_ns=None,
                restarts=0,
                data_version=data_version,
                code_version=code_version,
                params=params,
            )
            s.add(run)
            await s.flush()
            return run

    async def finish_run(self, run_id: int, results: dict[str, Any], now_ns: int) -> None:
        async with self._session.begin() as s:
            await s.execute(
                update(Run).where(Run.id == run_id).values(status="finished", results=results, updated_ns=now_ns)
            )

    async def opening(self, run_id: int) -> dict[str, str]:
        """What the run recorded of its start (a live run: the venues' equity when it began), kept across resumes."""
        async with self._session() as s:
            params = await s.scalar(select(Run.params).where(Run.id == run_id))
        return dict((params or {}).get("opening") or {})

    async def record_opening(self, run_id: int, values: dict[str, str]) -> None:
        """Record the run's start figures once: a resumed run keeps the first ones."""
        async with self._session.begin() as s:
            run = (await s.execute(select(Run).where(Run.id == run_id))).scalar_one()
            if not (run.params or {}).get("opening"):
                run.params = dict(run.params or {}) | {"opening": dict(values)}

    async def runs(self) -> list[Run]:
        async with self._session() as s:
            return list((await s.execute(select(Run).order_by(Run.id))).scalars())

    # --- write-ahead orders -----------------------------------------------------------------------------------------
    async def write_orders(self, rows: Sequence[dict[str, Any]]) -> None:
        """Commit orders *before* they are sent. A client order id already present is left as it is. On SQLite this
        commit is ``synchronous=FULL``: it reaches the disk (and with it every earlier commit in the WAL)."""
        if rows:
            await self._write(self._order_statements(rows), durable=True)

    def _order_statements(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, Any]]:
        return [(self._ins_ignore(OrderRow), list(rows))] if rows else []

    # --- ticks -------------------------------------------------------------------------------------------------------
    async def commit_tick(self, run_id: int, rec: TickRecords, now_ns: int) -> None:
        """One transaction per tick (or group of ticks), one statement per kind of record (Core ``insert`` of all
        its rows)."""
        await self._write(self._tick_statements(run_id, rec, now_ns), durable=False)

    async def write_in_order(self, run_id: int, items: Sequence[OrderBatch | TickBatch]) -> None:
        """Write-ahead orders and closed ticks, in the order given, in one transaction — durable (``FULL`` on
        SQLite) if it holds an order. The recorder hands its pending ticks and the orders about to be sent this way:
        one commit where there were two, and the ticks still reach the store no later than the orders after them."""
        ops: list[tuple[Any, Any]] = []
        durable = False
        for item in items:
            if isinstance(item, OrderBatch):
                ops += self._order_statements(item.rows)
                durable = durable or bool(item.rows)
            else:
                ops += self._tick_statements(run_id, item.rec, item.now_ns)
        if ops:
            await self._write(ops, durable=durable)

    def _tick_statements(self, run_id: int, rec: TickRecords, now_ns: int) -> list[tuple[Any, Any]]:
        ops: list[tuple[Any, Any]] = []
        model: Any
        for model, rows in (
            (FillRow, rec.fills),
            (FundingRow, rec.funding),
            (BorrowRow, rec.borrow),
            (TransferRow, rec.transfers),
            (DecisionRow, rec.decisions),
            (EquityRow, rec.equity),
        ):
            if rows:
                ops.append((self._ins_ignore(model), rows))
        if rec.transitions:
            ops.append((insert(TransitionRow), [{"run_id": run_id, **t} for t in rec.transitions]))
        if rec.ladder:
            ops.append((insert(LadderRow), [{"run_id": run_id, **e} for e in rec.ladder]))
        if rec.order_updates:
            ops.append(
                (
                    _ORDER_UPDATE,
                    [
                        {
                            "cid": u["client_order_id"],
                            "st": u["status"],
                            "fq": u["filled_qty"],
                            "rs": u["reason"],
                            "ts": u["ts_ns"],
                        }
                        for u in rec.order_updates
                    ],
                )
            )
        for model, rows, keys in (
            (PositionRow, rec.positions, ("run_id", "instrument_id")),
            (PairRow, rec.pairs, ("run_id", "decision_id")),
        ):
            if rows:
                ops.append(self._upsert(model, rows, keys))
        if rec.governor_state is not None:
            ops.append(
                self._upsert(
                    GovernorStateRow, [{"run_id": run_id, "ts_ns": now_ns, "state": rec.governor_state}], ("run_id",)
                )
            )
        values: dict[str, Any] = {"updated_ns": now_ns}
        if rec.cursor_ns is not None:
            values["cursor_ns"] = rec.cursor_ns
        ops.append((update(Run).where(Run.id == run_id).values(**values), None))
        return ops

    async def _write(self, ops: list[tuple[Any, Any]], durable: bool) -> None:
        """Execute ``ops`` in one transaction. SQLite: on the store's writer thread with the stdlib driver — one
        hop for the whole transaction instead of one per statement (a tick's commit 1.9 -> 0.7 ms p50)."""
        if self._sync is None:
            async with self.engine.begin() as conn:
                for stmt, params in ops:
                    await conn.execute(stmt, params)
            return
        await asyncio.get_running_loop().run_in_executor(self._writer, self._write_sync, ops, durable)

    def _write_sync(self, ops: list[tuple[Any, Any]], durable: bool) -> None:
        assert self._sync is not None
        with self._sync.connect() as conn:
            if durable:
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
                conn.commit()
            try:
                with conn.begin():
                    for stmt, params in ops:
                        conn.execute(stmt, params)
            finally:
                if durable:
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    conn.commit()

    def _ins(self, model: type) -> Any:
        return self._insert(model)

    def _ins_ignore(self, model: type) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` for ``model``, built once."""
        stmt = self._ignoring.get(model)
        if stmt is None:
            stmt = self._ignoring[model] = self._insert(model).on_conflict_do_nothing()
        return stmt

    async def _insert_ignore(
        self, conn: AsyncConnection | AsyncSession, model: type, rows: Sequence[dict[str, Any]]
    ) -> None:
        if rows:
            await conn.execute(self._ins_ignore(model), list(rows))

    def _upsert(self, model: type, rows: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> tuple[Any, Any]:
        """Insert or update all ``rows`` in one statement (they share their columns); the statement is built once
        per model and columns (building its ``excluded`` references was a third of a tick group's statements)."""
        cols = tuple(c for c in rows[0] if c not in keys)
        stmt = self._upserts.get((model, cols, keys))
        if stmt is None:
            ins = self._ins(model)
            stmt = ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in cols})
            self._upserts[(model, cols, keys)] = stmt
        return stmt, list(rows)

    # --- operator command nonces -------------------------------------------------------------------------------------
    async def command_nonces(self, bot_id: str, now_ns: int) -> dict[str, int]:
        """Nonces still inside their freshness window (nonce -> when seen, ns); expired ones are deleted."""
        async with self._session.begin() as s:
            await s.execute(
                delete(CommandNonceRow).where(CommandNonceRow.bot_id == bot_id, CommandNonceRow.expires_ns < now_ns)
            )
            rows = (await s.execute(select(CommandNonceRow).where(CommandNonceRow.bot_id == bot_id))).scalars()
            return {r.nonce: r.seen_ns for r in rows}

    async def add_command_nonce(self, bot_id: str, nonce: str, seen_ns: int, expires_ns: int) -> None:
        async with self._session.begin() as s:
            await self._insert_ignore(
                s, CommandNonceRow, [{"bot_id": bot_id, "nonce": nonce, "seen_ns": seen_ns, "expires_ns": expires_ns}]
            )

    # --- reads -------------------------------------------------------------------------------------------------------
    async def _all(self, model: Any, run_id: int, order: Any) -> list[Any]:
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

    async def transfers(self, run_id: int) -> list[TransferRow]:
        return await self._all(TransferRow, run_id, TransferRow.id)

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
