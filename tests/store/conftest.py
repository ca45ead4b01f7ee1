"""The store suite runs against SQLite and a real PostgreSQL server (started by .ci/run; CARRYBOT_TEST_PG_URL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("CARRYBOT_TEST_PG_URL")


def _fresh_pg_db() -> str:
    """A throw-away database on the test server, so tests never share state."""
    import asyncpg

    assert PG_URL is not None
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CARRYBOT_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL here (set CARRYBOT_TEST_PG_URL; .ci/run does)")
    yield _fresh_pg_db()
