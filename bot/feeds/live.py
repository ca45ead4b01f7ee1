"""Live market data by REST polling through ccxt (one gateway per venue; no keys needed for public data).

Each poll builds one ``MarketBatch`` stamped with the clock's time. A venue that fails to answer keeps its previous
snapshots — which age, so the governor's staleness rule (G6) blocks entries on them (fail closed) — and is retried
with backoff by the gateway. Funding: the rate in force, the venue's prediction and the next settlement time come from
``fetch_funding_rate``; when a settlement time passes, the next snapshot carries it (paper venues settle on it).
Open interest (where the venue publishes it) is polled every ``oi_every_secs`` and carried on the perps' snapshots
(the G5 open-interest signals read it); a failed poll makes it unavailable, never silently old.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from bot.clock import Clock
from bot.domain import FundingSettlement, Instrument, MarketBatch, MarketSnapshot
from bot.errors import VenueError
from bot.logs import get_logger
from bot.venues.ccxt_gateway import CcxtGateway

log = get_logger(__name__)


class LivePollingFeed:
    data_version = "live"

    def __init__(
        self,
        gateways: Mapping[str, CcxtGateway],
        instruments: Mapping[str, Instrument],
        clock: Clock,
        poll_secs: float = 5.0,
        max_polls: int | None = None,
        oi_every_secs: float = 60.0,
        interval_every_secs: float = 3600.0,
    ) -> None:
        self.gateways = dict(gateways)
        self.instruments = dict(instruments)
        self._clock = clock
        self._poll = poll_secs
        self._max = max_polls
        self._last: dict[str, MarketSnapshot] = {}
        self._next_funding: dict[str, int] = {}
        self._rate_before: dict[str, dict[int, float]] = {}  # perp -> settlement time -> rate seen before it
        self._oi: dict[str, tuple[int, float | None]] = {}  # perp id -> (polled at, open interest in base units)
        self._oi_every_ns = int(oi_every_secs * 1e9)
        self._interval_every_ns = int(interval_every_secs * 1e9)
        self._interval_at: dict[str, int] = {}  # perp id -> when its interval was last asked of the venue
        self.failures: dict[str, int] = {}
        self.n_bars = 0
        self.rejected_rows: dict[str, int] = {}
        self.ts_range_ns = (clock.now_ns(), clock.now_ns())
        self.step_secs = float(poll_secs)

    async def poll_once(self) -> MarketBatch:
        now = self._clock.now_ns()
        snaps: list[MarketSnapshot] = []
        for venue, gw in self.gateways.items():
            ids = [i for i, inst in self.instruments.items() if inst.venue == venue]
            try:
                quotes = await gw.fetch_quotes(ids)
                for iid, (bid, ask, last, _venue_ts) in quotes.items():
                    inst = self.instruments[iid]
                    snap = MarketSnapshot(iid, now, bid, ask, last, last, index=last)
                    if inst.funding_interval_secs:
                        snap = await self._with_funding(gw, inst, snap, now)
                    snaps.append(snap)
            except VenueError as exc:
                self.failures[venue] = self.failures.get(venue, 0) + 1
                log.warning("feed.venue_failed", venue=venue, code=exc.code)  # its snapshots go stale
        for s in snaps:
            self._last[s.instrument_id] = s
        self.n_bars += 1
        return MarketBatch(now, tuple(snaps))

    async def _with_funding(self, gw: CcxtGateway, inst: Instrument, snap: MarketSnapshot, now: int) -> MarketSnapshot:
        f = await gw.fetch_funding_now(inst.id)
        mark = float(f["mark"]) if f["mark"] is not None else snap.mark
        index = float(f["index"]) if f["index"] is not None else None
        rate = float(f["rate"]) if f["rate"] is not None else None
        settlement = None
        due = self._next_funding.get(inst.id)
        if due is not None and now >= due and rate is not None:
            # the settlement the venue just made, at the rate that was in force for the period it closes (once the
            # period ends, venues already show the next period's rate)
            settlement = FundingSettlement(due, self._rate_before.get(inst.id, {}).pop(due, rate))
        if f["ts_next_ns"] is not None:
            self._next_funding[inst.id] = f["ts_next_ns"]
            if rate is not None and now < f["ts_next_ns"]:
                pending = self._rate_before.setdefault(inst.id, {})
                pending[f["ts_next_ns"]] = rate
                for old in [t for t in pending if t < now - 86_400 * 10**9]:  # settlements long past
                    del pending[old]
        polled = self._oi.get(inst.id)
        if f.get("open_interest") is not None:  # the venue's ticker carries it (Bybit): no extra call
            polled = self._oi[inst.id] = (now, f["open_interest"])
        elif polled is None or now - polled[0] >= self._oi_every_ns:  # open interest moves slowly: poll it less often
            try:
                polled = self._oi[inst.id] = (now, await gw.fetch_open_interest(inst.id))
            except VenueError as exc:
                log.warning("feed.open_interest_failed", instrument=inst.id, code=exc.code)
                polled = (polled[0], None) if polled else (now, None)  # unavailable, not stale-as-fresh
        return MarketSnapshot(
            inst.id,
            now,
            snap.bid,
            snap.ask,
            snap.last,
            mark,
            index=index,
            funding_rate=rate,
            predicted_funding_rate=float(f["predicted"]) if f["predicted"] is not None else None,
            funding_interval_secs=f["interval_secs"] or await self._interval(gw, inst, now),
            ts_next_funding_ns=f["ts_next_ns"],
            settlement=settlement,
            open_interest=polled[1],
        )

    async def _interval(self, gw: CcxtGateway, inst: Instrument, now: int) -> int | None:
        """The perp's funding interval, asked of the venue again every ``interval_every_secs`` (venues change it:
        Binance and Bybit move perps from 8 h to 4 h or 1 h in volatile markets); a failed ask keeps the last."""
        asked = self._interval_at.get(inst.id)
        if asked is not None and now - asked < self._interval_every_ns:
            return gw.instruments[inst.id].funding_interval_secs
        self._interval_at[inst.id] = now
        try:
            secs, _source = await gw.resolve_funding_interval(inst.id)
        except VenueError as exc:
            log.warning("feed.funding_interval_failed", instrument=inst.id, code=exc.code)
            secs = None
        return secs or gw.instruments[inst.id].funding_interval_secs

    async def batches(self) -> AsyncIterator[MarketBatch]:
        n = 0
        while self._max is None or n < self._max:
            yield await self.poll_once()
            n += 1
            await self._clock.sleep(self._poll)
