"""The store suite runs against SQLite and a real PostgreSQL server (started by .ci/run; CARRYBOT_TEST_PG_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import fresh_pg_db


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    yield fresh_pg_db()
