"""Persistence in the running bot: store outage (fail closed, nothing lost) and graceful restarts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.assembly import build_bot, recover_bot
from bot.decisions import DenyCode, Outcome
from bot.governor.rules_config import load_rules
from bot.settings import DbSettings, Settings
from bot.store.run import open_persistence

CHURN = {
    "s1": {
        "funding_lookback_periods": 1,
        "persistence_periods": 1,
        "entry_threshold_apr": 0.12,
        "exit_threshold_apr": 0.11,
        "holding_days": 365,
    }
}


def _settings(tmp: Path) -> Settings:
    return Settings(data_dir=tmp, replay={"start": "2024-02-01", "end": "2024-03-15"}, strategy=CHURN)


@pytest.mark.parametrize("lag", [0.0, 0.2], ids=["tick-by-tick", "grouped"])
def test_store_outage_stops_entries_keeps_risk_reduction_and_loses_nothing(tmp_path: Path, lag: float) -> None:
    """Ticks committed one by one (a live bot) or in groups (a replay at full speed, where the outage is found by
    the next write): no entry reaches a venue while the store is down, risk reduction does, nothing is lost."""

    async def go() -> None:
        settings = _settings(tmp_path).model_copy(update={"db": DbSettings(commit_lag_secs=lag)})
        persistence = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        bot = build_bot(settings, load_rules(), "sim", persistence)
        await recover_bot(bot)
        p = bot.persistence
        assert p is not None
        ex = bot.executor
        batches = list(bot.feed.iter_batches())
        db = tmp_path / "carrybot.db"
        outage = range(40, 70)
        for k, batch in enumerate(batches):
            if k == outage.start:  # the database disappears
                await p.store.close()  # every connection goes
                db.rename(tmp_path / "away.db")
                db.mkdir()
            if k == outage.stop:  # ... and comes back
                db.rmdir()
                (tmp_path / "away.db").rename(db)
            await ex.clock.sleep_until(batch.ts_ns)
            await ex.step(batch)
            if k == outage.stop - 1:
                assert not p.recorder.healthy and p.recorder.backlog > 0
        await ex.commit(None)
        await p.recorder.flush()
        assert p.recorder.healthy and p.recorder.backlog == 0
        t0, t1 = batches[outage.start].ts_ns, batches[outage.stop].ts_ns
        during = [d for d in bot.audit.decisions if t0 <= d.ts_ns < t1]
        # the governor refuses entries while the store is down (G6) -- and once the outage is known, the standing
        # gate tells the strategy not to propose them at all
        refused = any(d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STORE_DOWN for d in during)
        assert refused or bot.strategies[0].stats["gated_store_down"] > 0
        assert not [d for d in during if d.intent.purpose.value == "entry" and d.outcome is not Outcome.REJECT]
        by_id = {d.decision_id: d for d in bot.audit.decisions}
        sent = [o for v in bot.venues.values() for o in v.received if t0 <= o.ts_created_ns < t1]
        assert all(by_id[o.decision_id].risk_reducing for o in sent)  # only risk reduction went out
        assert any(by_id[o.decision_id].risk_reducing for o in sent)  # ... and it did go out
        # nothing lost: every venue fill and funding payment reached the store
        venue_trades = {f.trade_id for v in bot.venues.values() for f in await v.fetch_fills()}
        assert {f.trade_id for f in await p.store.fills(p.run_id)} == venue_trades
        n_funding = 0
        for v in bot.venues.values():
            n_funding += len(await v.fetch_funding())
        assert len(await p.store.funding(p.run_id)) == n_funding
        sent = {o.client_order_id for v in bot.venues.values() for o in v.received}
        assert sent <= {o.client_order_id for o in await p.store.orders(p.run_id)}
        await p.close()

    asyncio.run(go())


def test_a_stopped_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    async def first() -> int:
        settings = _settings(tmp_path)
        persistence = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        bot = build_bot(settings, load_rules(), "sim", persistence)
        await recover_bot(bot)
        last_committed = None
        for k, batch in enumerate(bot.feed.iter_batches()):
            if k == 60:
                break
            await bot.executor.clock.sleep_until(batch.ts_ns)
            await bot.executor.step(batch)
            last_committed = batch.ts_ns
        p = bot.persistence
        assert p is not None
        state = bot.governor.export_state()
        await p.close()
        return last_committed, state

    cursor, state = asyncio.run(first())

    async def second() -> None:
        settings = _settings(tmp_path)
        persistence = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        assert persistence.resumed and persistence.cursor_ns == cursor
        bot = build_bot(settings, load_rules(), "sim", persistence)
        await recover_bot(bot)
        p = bot.persistence
        assert p is not None and bot.recovery is not None
        assert bot.recovery.position_mismatches == {} and bot.recovery.fills_loaded > 0
        assert bot.governor.export_state() == state  # trading state, ladders and timers came back
        assert bot.executor.clock.now_ns() == cursor  # the clock resumes at the cursor, not at the start
        await p.close()

    asyncio.run(second())


def test_a_restart_backfills_what_the_venue_did_and_the_store_missed(tmp_path: Path) -> None:
    """A bot killed after its venues journaled fills and funding but before its store committed them: the next
    instance (a fresh venue from the journal, a fresh store connection) takes them from the venue's history."""
    settings = _settings(tmp_path).model_copy(update={"db": DbSettings(commit_lag_secs=5.0)})

    async def first() -> tuple[set[str], int]:
        persistence = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        bot = build_bot(settings, load_rules(), "sim", persistence)
        await recover_bot(bot)
        p = bot.persistence
        assert p is not None
        batches = list(bot.feed.iter_batches())
        for batch in batches[:60]:
            await bot.executor.clock.sleep_until(batch.ts_ns)
            await bot.executor.step(batch)
        for batch in batches[60:75]:  # these ticks stay in the recorder's group (lag 5 s) ...
            await bot.executor.step(batch)
        for venue in bot.venues.values():  # ... while the venues journal theirs (as before any store write)
            venue.checkpoint()
        trades = {f.trade_id for v in bot.venues.values() for f in await v.fetch_fills()}
        funding = [len(await v.fetch_funding()) for v in bot.venues.values()]
        stored = {f.trade_id for f in await p.store.fills(p.run_id)}
        assert trades - stored, "the scenario needs fills the store does not hold yet"
        await p.store.close()  # the process dies: no flush
        assert p.lock is not None
        await p.lock.release()
        return trades, sum(funding)

    trades, funding = asyncio.run(first())

    async def second() -> None:
        persistence = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        bot = build_bot(settings, load_rules(), "sim", persistence)
        await recover_bot(bot)
        p = bot.persistence
        assert p is not None and bot.recovery is not None
        assert bot.recovery.fills_backfilled > 0 and bot.recovery.position_mismatches == {}
        await bot.executor.commit(None)  # recovery's records go with the next tick
        await p.recorder.flush()
        assert {f.trade_id for f in await p.store.fills(p.run_id)} == trades
        assert len(await p.store.funding(p.run_id)) == funding
        await p.close()

    asyncio.run(second())
