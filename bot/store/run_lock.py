"""One instance per bot: a lock held for the life of a run (issue: fail safe).

Two ``carrybot run`` on the same store would both resume the same run and, live, both trade it. The lock is taken
before the run is opened and released when the process ends, however it ends (the operating system drops a file
lock and PostgreSQL drops a session's advisory lock with the process or its connection):

- SQLite: ``flock`` on ``<database>.<bot_id>.lock`` beside the database file; the holder writes ``pid@host`` there.
- PostgreSQL: ``pg_try_advisory_lock`` on a connection of its own kept open for the run, whose
  ``application_name`` names the holder (read back from ``pg_stat_activity`` when the lock is taken).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
import zlib
from pathlib import Path
from typing import Any

_LOCK_CLASS = 0x6362  # 'cb': the advisory-lock namespace of carrybot


class RunLocked(Exception):
    """Another instance holds this bot's lock; the message names it."""


def holder_name() -> str:
    return f"carrybot pid {os.getpid()}@{socket.gethostname()}"


def _key(bot_id: str) -> int:
    return zlib.crc32(bot_id.encode()) & 0x7FFFFFFF


class RunLock:
    def __init__(self, url: str, bot_id: str) -> None:
        self.url = url
        self.bot_id = bot_id
        self._fd: int | None = None
        self._engine: Any = None
        self._conn: Any = None

    async def acquire(self) -> None:
        if self.url.startswith("sqlite"):
            self._acquire_file()
        else:
            await self._acquire_pg()

    def _lock_path(self) -> Path:
        db = self.url.split("///", 1)[1] if "///" in self.url else "carrybot.db"
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.bot_id)
        return Path(f"{db}.{safe}.lock")

    def _acquire_file(self) -> None:
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"bot {self.bot_id!r} is already running on this store ({holder}; lock {path}); "
                "stop it first, or give this instance another CARRYBOT_BOT_ID"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder_name()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode(), 0)
        self._fd = fd

    async def _acquire_pg(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        name = f"{holder_name()} bot {self.bot_id}"[:63]
        self._engine = create_async_engine(
            self.url, pool_size=1, max_overflow=0, connect_args={"server_settings": {"application_name": name}}
        )
        self._conn = await self._engine.connect()
        got = (
            await self._conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": _LOCK_CLASS, "k": _key(self.bot_id)}
            )
        ).scalar()
        await self._conn.commit()
        if got:
            return
        row = (
            await self._conn.execute(
                text(
                    "SELECT a.application_name, a.client_addr, a.pid FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.classid = :c AND l.objid = :k AND l.granted"
                ),
                {"c": _LOCK_CLASS, "k": _key(self.bot_id)},
            )
        ).first()
        await self.release()
        holder = f"{row[0]} (backend {row[2]}, client {row[1]})" if row else "another session"
        raise RunLocked(
            f"bot {self.bot_id!r} is already running on this database ({holder}); stop it first, or "
            "give this instance another CARRYBOT_BOT_ID"
        )

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            try:
                await self._conn.close()  # closing the session releases its advisory locks
            finally:
                self._conn = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
