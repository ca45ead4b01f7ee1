"""The executor's side of the firm budget: every entry the governor approved reserves its share before its orders
are written ahead; what is left of each reservation is reported as its orders fill, and the reservation ends when
they are done.

The governor stays pure: its decision is made first, on the instance's own state. The gate then asks the firm store
(I/O, with a deadline) and, if a firm limit or an unreachable store refuses the entry, the decision goes out refused
— the governor's own hits plus the firm's (rule G7, a ``firm_*`` code, the numbers behind it) — as the one record the
store, the metrics and MQTT get. Risk-reducing decisions never ask: a firm that cannot be reached stops entries only.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Protocol

from bot.decisions import Decision, DenyCode, Outcome, RuleHit
from bot.domain import Instrument, Order
from bot.errors import ConfigError
from bot.execution.pairs import PairBook
from bot.firm.budget import FirmBudget
from bot.firm.limits import FirmShare, FirmTotals, share_of, unreachable
from bot.logs import get_logger

log = get_logger(__name__)

FIRM_CODES = tuple(c.value for c in DenyCode if c.value.startswith("firm_"))
OUTCOMES = ("reserved", "converted", "released", "unreachable", *FIRM_CODES)  # "unreachable": a call that failed


class OrderProgress(Protocol):
    """What the gate reads from the executor to see how far an entry's orders got."""

    working: dict[str, Order]
    pairs: PairBook

    def filled(self, client_order_id: str) -> Decimal: ...

    def in_flight(self, decision_id: str) -> bool: ...


class FirmGate:
    def __init__(
        self,
        budget: FirmBudget,
        instruments: Mapping[str, Instrument],
        sync_secs: float = 1.0,
        timeout_secs: float = 2.0,
        retry_secs: float = 2.0,
    ) -> None:
        self.budget = budget
        self.instruments = instruments
        self.sync_secs, self.timeout_secs, self.retry_secs = sync_secs, timeout_secs, retry_secs
        self.active: dict[str, Decision] = {}  # reservations held, by decision id
        self.totals: FirmTotals | None = None  # the firm's totals as last read
        self.reachable = False
        # every outcome from the start, at 0: Prometheus's rate() cannot see a series' first increment
        self.outcomes: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
        self._down_until = 0.0
        self._last_report = 0.0
        self.joined = False

    async def open(self, strict: bool = True) -> None:
        """Join the firm. A firm store that cannot be reached does not stop the start (the instance must be able to
        reduce risk): entries are refused until a later attempt joins. Firm limits that differ from the other
        instances' stop the start (``strict``); later, they only keep entries refused."""
        try:
            async with asyncio.timeout(self.timeout_secs):
                expired = await self.budget.join()
                self.totals = await self.budget.totals()
        except ConfigError as exc:
            if strict:
                raise  # limits that differ from the firm's other instances: a configuration to fix, not an outage
            self._failed("firm.limits_differ", exc)
            return
        except Exception as exc:  # noqa: BLE001 - fail closed: no entries until joined
            self._failed("firm.join_failed", exc)
            return
        self.joined = self.reachable = True
        log.info("firm.joined", firm=self.budget.firm, expired_reservations=expired)

    async def close(
        self, progress: OrderProgress, exposure: Mapping[str, tuple[float, float]], equity: float, day_start: float
    ) -> None:
        """A clean stop: the last report (what the shutdown's cancels left), then the reservations end."""
        try:
            if self.joined:
                async with asyncio.timeout(self.timeout_secs):
                    await self._report(progress, exposure, equity, day_start)
                    await self.budget.leave()
        except Exception as exc:  # noqa: BLE001 - the leases end by themselves
            log.warning("firm.leave_failed", error=type(exc).__name__)
        finally:
            await self.budget.close()

    # --- before write-ahead ------------------------------------------------------------------------------------------
    async def admit(self, decision: Decision) -> Decision:
        """The decision if its share is reserved; else the decision refused with the firm's hit."""
        share = share_of(((o, float(o.qty)) for o in decision.orders), self.instruments)
        if share.empty:
            return decision
        hit: RuleHit | None
        if not self.joined:
            hit = unreachable("not_joined")
        elif time.monotonic() < self._down_until:
            hit = unreachable("recent_failure")
        else:
            try:
                async with asyncio.timeout(self.timeout_secs):
                    hit, self.totals = await self.budget.reserve(decision.decision_id, share)
                self.reachable = True
            except Exception as exc:  # noqa: BLE001 - any failure to ask is a refusal: entries fail closed
                self._failed("firm.reserve_failed", exc)
                hit = unreachable(type(exc).__name__)
        if hit is None:
            self.active[decision.decision_id] = decision
            self.outcomes["reserved"] += 1
            return decision
        self.outcomes[hit.code.value] += 1
        return replace(decision, outcome=Outcome.REJECT, scale=0.0, hits=(*decision.hits, hit), orders=())

    def forget(self, decision_id: str) -> None:
        """An entry reserved but never sent (its write-ahead failed): it ends at the next report, unfilled."""
        if decision_id in self.active:
            self.active[decision_id] = replace(self.active[decision_id], orders=())

    # --- after each tick ---------------------------------------------------------------------------------------------
    async def after_tick(
        self, progress: OrderProgress, exposure: Mapping[str, tuple[float, float]], equity: float, day_start: float
    ) -> None:
        """Report when due, or at once when a reservation's orders are done (its share goes back to the firm)."""
        now = time.monotonic()
        done = any(not _live(d, progress) for d in self.active.values())
        if not done and now - self._last_report < self.sync_secs:
            return
        if now < self._down_until:
            return
        if not self.joined:
            await self.open(strict=False)
            return
        try:
            async with asyncio.timeout(self.timeout_secs):
                await self._report(progress, exposure, equity, day_start)
            self.reachable = True
        except Exception as exc:  # noqa: BLE001 - reported again next time; entries fail closed meanwhile
            self._failed("firm.report_failed", exc)

    async def _report(
        self, progress: OrderProgress, exposure: Mapping[str, tuple[float, float]], equity: float, day_start: float
    ) -> None:
        remaining: dict[str, FirmShare] = {}
        finished: dict[str, bool] = {}
        for did, decision in self.active.items():
            if _live(decision, progress):
                remaining[did] = share_of(_left(decision, progress), self.instruments, count_orders=False)
            else:
                finished[did] = any(progress.filled(o.client_order_id) > 0 for o in _all_orders(decision, progress))
        self.totals = await self.budget.report(exposure, equity, day_start, remaining, finished)
        self._last_report = time.monotonic()
        for did, filled in finished.items():
            del self.active[did]
            self.outcomes["converted" if filled else "released"] += 1

    def _failed(self, event: str, exc: BaseException) -> None:
        self.reachable = False
        self.outcomes["unreachable"] += 1
        self._down_until = time.monotonic() + self.retry_secs
        log.error(event, error=type(exc).__name__)


def _all_orders(decision: Decision, progress: OrderProgress) -> list[Order]:
    track = progress.pairs.pairs.get(decision.decision_id)
    if track is None:
        return list(decision.orders)
    children = [progress.working[c] for c in track.child_ids if c in progress.working]
    return [track.lead, *children]


def _live(decision: Decision, progress: OrderProgress) -> bool:
    """Any order of the decision (a pair's lead, or hedges released for it) is working or waiting to be sent."""
    if not decision.orders:
        return False
    if progress.in_flight(decision.decision_id):
        return True
    track = progress.pairs.pairs.get(decision.decision_id)
    if track is not None:
        return track.lead.client_order_id in progress.working or any(c in progress.working for c in track.child_ids)
    return any(o.client_order_id in progress.working for o in decision.orders)


def _left(decision: Decision, progress: OrderProgress) -> list[tuple[Order, float]]:
    """What each leg of a live entry may still trade: a pair's lead up to its quantity, its hedge up to what the
    lead filled (or will, while it works); other orders up to their quantity."""
    track = progress.pairs.pairs.get(decision.decision_id)
    if track is None:
        return [
            (o, float(o.qty - progress.filled(o.client_order_id)) if o.client_order_id in progress.working else 0.0)
            for o in decision.orders
        ]
    lead_working = track.lead.client_order_id in progress.working
    lead_left = track.lead.qty - track.lead_filled if lead_working else Decimal(0)
    target = track.lead.qty if lead_working else track.lead_filled
    hedge_left = max(Decimal(0), min(target, track.hedge.qty) - track.hedge_filled)
    return [(track.lead, float(max(lead_left, Decimal(0)))), (track.hedge, float(hedge_left))]
