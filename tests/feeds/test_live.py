"""The live polling feed through ccxt against the local OKX-like server (recorded payloads): snapshots carry quotes,
funding in force, the venue's prediction, the next settlement and the interval; a venue that stops answering leaves
its snapshots to go stale, and the governor then refuses entries on them."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.clock import SimClock
from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.feeds.live import LivePollingFeed
from bot.governor import Governor, RulesConfig
from bot.governor.context import AccountView
from tests.venues.okx_server import OkxServer
from tests.venues.test_ccxt_gateway import _gateway

SWAP = "okx:BTC/USDT:USDT"


def test_polls_build_snapshots_and_a_silent_venue_goes_stale() -> None:
    async def go() -> None:
        server = OkxServer()
        gw, runner = await _gateway(server)
        try:
            clock = SimClock(1_744_590_349_506 * 1_000_000)
            feed = LivePollingFeed({"okx": gw}, {SWAP: gw.instruments[SWAP]}, clock, poll_secs=60)
            batch = await feed.poll_once()
            (snap,) = batch.snapshots
            assert (snap.bid, snap.ask, snap.last) == (8888.88, 9999.99, 9999.99)
            assert snap.funding_rate == 0.0001 and snap.predicted_funding_rate == 0.0002
            assert snap.ts_next_funding_ns == 1_744_590_349_506 * 1_000_000  # OKX fundingTime: the next settlement
            assert snap.funding_interval_secs == 8 * 3600
            gov = Governor(RulesConfig(), {SWAP: gw.instruments[SWAP]})
            intent = OrderIntent(
                "e", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg(SWAP, Side.SELL, Decimal("0.01")),), clock.now_ns()
            )
            server.market_down = True
            await clock.sleep(150)
            later = await feed.poll_once()
            assert later.snapshots == () and feed.failures == {"okx": 1}
            d = gov.decide(intent, AccountView(100_000.0, {}, {}, 0.0), {SWAP: snap}, clock.now_ns())
            assert d.outcome is Outcome.REJECT and d.hits[0].code is DenyCode.STALE_SNAPSHOT
            assert d.hits[0].inputs["age_secs"] == 150.0
            server.market_down = False
            await clock.sleep(10)
            assert (await feed.poll_once()).snapshots[0].ts_ns == clock.now_ns()
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())


def test_a_settlement_time_passing_is_announced() -> None:
    async def go() -> None:
        server = OkxServer()
        gw, runner = await _gateway(server)
        try:
            due = 1_744_590_349_506 * 1_000_000
            clock = SimClock(due - 5 * NS_PER_SEC)
            feed = LivePollingFeed({"okx": gw}, {SWAP: gw.instruments[SWAP]}, clock)
            assert (await feed.poll_once()).snapshots[0].settlement is None
            await clock.sleep(10)
            (snap,) = (await feed.poll_once()).snapshots
            assert snap.settlement is not None and snap.settlement.ts_ns == due and snap.settlement.rate == 0.0001
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())


def test_a_settlement_is_booked_at_the_rate_of_the_period_it_closes() -> None:
    """Once a period settles, venues show the next period's rate; the settlement must carry the rate that was in
    force before it (REST polling feed)."""

    async def go() -> None:
        server = OkxServer()
        gw, runner = await _gateway(server)
        try:
            due_ms = 1_744_590_349_506
            clock = SimClock((due_ms - 5_000) * 1_000_000)
            feed = LivePollingFeed({"okx": gw}, {SWAP: gw.instruments[SWAP]}, clock)
            await feed.poll_once()  # the rate in force: 0.0001, due at due_ms
            server.funding_patch = {
                "fundingRate": "0.00042",
                "fundingTime": str(due_ms + 8 * 3_600_000),
                "nextFundingTime": str(due_ms + 16 * 3_600_000),
            }
            await clock.sleep(10)
            (snap,) = (await feed.poll_once()).snapshots
            assert snap.settlement is not None and snap.settlement.rate == 0.0001  # not the new period's 0.00042
            assert snap.funding_rate == 0.00042
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())
