"""Live position watchdog: the ledger's positions (built from fills) against the venues' own, every few minutes.

A difference that persists over two checks in a row (one check could race a fill in flight) is an orphan or a lost
leg: it is logged as an error, exported (``carrybot_position_mismatch``), sent as an event, and the governor is set to
REDUCING so no new risk is added until an operator looks. Venue errors during a check are counted, not acted upon."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bot.decisions import TradingState
from bot.events import PositionMismatch
from bot.execution.executor import Executor
from bot.logs import get_logger

log = get_logger(__name__)


class PositionWatchdog:
    def __init__(self, executor: Executor, gateways: dict[str, Any], tolerance: Decimal = Decimal("1e-9")) -> None:
        self.ex = executor
        self.gateways = gateways
        self.tolerance = tolerance
        self.suspect: dict[str, tuple[Decimal, Decimal]] = {}  # seen once
        self.mismatches: dict[str, tuple[Decimal, Decimal]] = {}  # seen twice in a row: acted upon
        self.checks = 0
        self.errors = 0

    async def check(self) -> dict[str, tuple[Decimal, Decimal]]:
        """One comparison; returns the confirmed mismatches (instrument -> (ledger, venue))."""
        from bot.errors import VenueError

        self.checks += 1
        seen: dict[str, tuple[Decimal, Decimal]] = {}
        for venue, gw in self.gateways.items():
            try:
                venue_pos = {iid: p.qty for iid, p in (await gw.fetch_positions()).items()}
            except VenueError:
                self.errors += 1
                continue
            ours = {
                iid: b.qty
                for iid, b in self.ex.ledger.legs.items()
                if b.qty and self.ex.instruments[iid].venue == venue
            }
            for iid in ours.keys() | venue_pos.keys():
                a, b = ours.get(iid, Decimal(0)), venue_pos.get(iid, Decimal(0))
                if abs(a - b) > self.tolerance:
                    seen[iid] = (a, b)
        confirmed = {iid: v for iid, v in seen.items() if iid in self.suspect}
        self.suspect = seen
        new = {iid: v for iid, v in confirmed.items() if iid not in self.mismatches}
        self.mismatches = confirmed
        for iid, (a, b) in new.items():
            log.error("watchdog.position_mismatch", instrument=iid, ledger=str(a), venue=str(b))
            self.ex.bus.publish(PositionMismatch(iid, a, b, self.ex.clock.now_ns()))
        if new and self.ex.governor.trading_state is TradingState.ACTIVE:
            why = f"position mismatch on {', '.join(sorted(new))}"
            self.ex.set_trading_state(TradingState.REDUCING, "watchdog", why)
        return confirmed

    async def run(self, every_secs: float = 120.0) -> None:
        while True:
            await asyncio.sleep(every_secs)
            await self.check()
