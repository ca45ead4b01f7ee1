"""One run's hold on the store: the run lock, the upgraded store, the run row (new, or the unfinished one this bot
resumes) and its recorder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.settings import Settings
from bot.store.recorder import Recorder
from bot.store.repository import Store, sqlite_url
from bot.store.run_lock import RunLock


@dataclass(slots=True)
class Persistence:
    store: Store
    run_id: int
    run_key: str
    recorder: Recorder
    resumed: bool
    cursor_ns: int | None = None
    lock: RunLock | None = None

    async def close(self) -> None:
        """Commit what the recorder still holds, close the store and release the run lock (the next instance may
        take the run over)."""
        try:
            await self.recorder.flush()  # a store that is down keeps the rest: the resumed run replays it
            self.recorder.close()
            await self.store.close()
        finally:
            if self.lock is not None:
                await self.lock.release()


def store_url(settings: Settings) -> str:
    return settings.db.url.get_secret_value() if settings.db.url is not None else sqlite_url(settings.data_dir)


async def open_persistence(
    settings: Settings, data_version: str, params: dict[str, Any], now_ns: int, code_version: str
) -> Persistence:
    """Take the run lock, upgrade the store, then resume this bot's unfinished run (after a crash or a stop) or
    start a new one."""
    url = store_url(settings)
    lock = RunLock(url, settings.bot_id)  # one instance per bot: a second one exits 2 naming the holder
    await lock.acquire()
    store = Store(url)
    try:
        await store.upgrade()
        mine = f"{settings.bot_id}:"
        unfinished = [r for r in await store.runs() if r.run_key.startswith(mine) and r.status == "running"]
        key = unfinished[-1].run_key if unfinished else f"{settings.bot_id}:{now_ns}"
        run = await store.open_run(key, settings.mode, params, data_version, code_version, now_ns)
    except BaseException:
        await store.close()
        await lock.release()
        raise
    recorder = Recorder(store, run.id, settings.db.commit_lag_secs)
    return Persistence(store, run.id, key, recorder, resumed=bool(unfinished), cursor_ns=run.cursor_ns, lock=lock)
