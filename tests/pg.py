"""A real PostgreSQL for the tests (started by .ci/run; CARRYBOT_TEST_PG_URL): a throw-away database per test."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

PG_URL = os.environ.get("CARRYBOT_TEST_PG_URL")


def fresh_pg_db() -> str:
    """A new, empty database on the test server (skips without one; fails in CI, where there must be one)."""
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CARRYBOT_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL here (set CARRYBOT_TEST_PG_URL; .ci/run does)")
    import asyncpg

    base = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"cb_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return PG_URL.rsplit("/", 1)[0] + "/" + name


async def pg_rows(url: str, sql: str) -> list[tuple]:
    """Every row a query returns, on a connection of its own."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()
