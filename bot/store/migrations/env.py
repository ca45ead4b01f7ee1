"""Alembic environment: runs migrations with the bot's async engine (SQLite via aiosqlite, PostgreSQL via asyncpg)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.models import Base

config = context.config
_MIGRATION_LOCK = (0x6373, 0)  # the schema's advisory lock ('cs'; run locks are class 'cb', the firm's 'cf')
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # transactional_ddl: a migration killed half-way must leave no half-made schema (SQLite can do it, see below)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # instances of a firm start together on one database (Kubernetes starts every pod at once): one migrates,
            # the others wait here, then find the schema at its head (they crashed on CREATE TABLE alembic_version)
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK[0]}, {_MIGRATION_LOCK[1]})")
        context.run_migrations()


async def _online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() sets sqlalchemy.url"
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        # Python's sqlite3 driver commits DDL on its own; take over transactions so CREATE TABLE ... and the
        # alembic_version stamp commit together (SQLAlchemy's documented recipe for transactional DDL on SQLite)
        @event.listens_for(engine.sync_engine, "connect")
        def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    async with engine.connect() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():  # pragma: no cover - SQL script generation
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
