"""Live market data by websocket (ccxt.pro watchers), with REST where a venue has no stream for a field.

Per venue, long-running watcher tasks keep the latest quote of every instrument (``watch_bids_asks`` or
``watch_tickers``, whichever the venue streams with bid and ask), and — where the venue streams them — mark, index,
funding and open interest (Bybit's tickers carry all four; Binance streams mark price with funding via
``watch_mark_prices``). What no stream carries is polled over REST at a slow pace (``fetch_funding_now``, open
interest). A watcher that fails reconnects with capped exponential backoff and is counted.

Every ``tick_secs`` the feed emits one ``MarketBatch`` of the latest snapshots. Each snapshot keeps the time of the
venue message it came from, so a dead stream produces snapshots that age — and the governor's staleness rule (G6)
refuses entries on them (fail closed) until the stream is back. Funding settlements are emitted when a perp's
announced settlement time passes, as in the polling feed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.domain import FundingSettlement, Instrument, MarketBatch, MarketSnapshot
from bot.errors import VenueError
from bot.logs import get_logger
from bot.retry import Backoff
from bot.venues.ccxt_gateway import CcxtGateway

log = get_logger(__name__)

# which streams carry bid/ask (and what else) per venue; others: tickers when streamed, else REST
QUOTE_STREAM = {"binance": "watch_bids_asks", "bybit": "watch_tickers", "okx": "watch_tickers"}
MARK_STREAM = {"binance": "watch_mark_prices"}


@dataclass(slots=True)
class Latest:
    bid: float
    ask: float
    last: float
    ts_ns: int
    mark: float | None = None
    index: float | None = None
    funding: float | None = None
    next_funding_ns: int | None = None
    interval_secs: int | None = None
    open_interest: float | None = None


def _camel(method: str) -> str:
    head, *rest = method.split("_")
    return head + "".join(p.title() for p in rest)


def _f(x: Any) -> float | None:
    try:
        return None if x in (None, "") else float(x)
    except (TypeError, ValueError):
        return None


class LiveStreamFeed:
    data_version = "live-stream"

    def __init__(
        self,
        gateways: Mapping[str, CcxtGateway],
        instruments: Mapping[str, Instrument],
        clock: Clock,
        tick_secs: float = 1.0,
        rest_every_secs: float = 60.0,
        max_ticks: int | None = None,
        max_backoff_secs: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gateways = dict(gateways)
        self.instruments = dict(instruments)
        self._clock = clock
        self._tick = tick_secs
        self._rest_every = rest_every_secs
        self._max_ticks = max_ticks
        self._max_backoff = max_backoff_secs
        self._sleep = sleep
        self.latest: dict[str, Latest] = {}
        self._next_funding: dict[str, int] = {}
        self._rate_before: dict[str, dict[int, float]] = {}  # perp -> settlement time -> rate seen before it
        self.messages: Counter[str] = Counter()  # per venue
        self.reconnects: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.n_bars = 0
        self.rejected_rows: dict[str, int] = {}
        self.ts_range_ns = (clock.now_ns(), clock.now_ns())
        self.step_secs = float(tick_secs)
        self._tasks: list[asyncio.Task[None]] = []

    # --- watchers -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        for venue, gw in self.gateways.items():
            ids = [i for i, inst in self.instruments.items() if inst.venue == venue]
            groups: dict[str, list[str]] = {}
            for iid in ids:  # one stream per market type (venues split spot and derivatives endpoints)
                groups.setdefault(self.instruments[iid].kind.value, []).append(iid)
            quote = QUOTE_STREAM.get(venue, "watch_tickers")
            streams = gw.ex.has.get(_camel(quote)) and hasattr(gw.ex, quote)
            for group in groups.values():  # no stream on this venue: REST quotes at the tick pace
                self._tasks.append(
                    asyncio.create_task(self._watch(gw, quote, group) if streams else self._rest_quotes(gw, group))
                )
            perps = [i for i in ids if self.instruments[i].funding_interval_secs]
            mark = MARK_STREAM.get(venue)
            if perps and mark and gw.ex.has.get(_camel(mark)) and hasattr(gw.ex, mark):
                self._tasks.append(asyncio.create_task(self._watch(gw, mark, perps)))
            if perps:
                self._tasks.append(asyncio.create_task(self._rest_loop(gw, perps)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _watch(self, gw: CcxtGateway, method: str, ids: list[str]) -> None:
        symbols = [gw.symbols[i] for i in ids]
        by_symbol = {gw.symbols[i]: i for i in ids}
        backoff = Backoff(0.5, cap=self._max_backoff)
        while True:
            try:
                rows = await getattr(gw.ex, method)(symbols)
                backoff.reset()
                for sym, t in (rows or {}).items():
                    iid = by_symbol.get(sym)
                    if iid is not None:
                        self._update(iid, t, mark_only=method in MARK_STREAM.values())
                        self.messages[gw.venue] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any stream failure: count, back off, reconnect
                from bot.venues.errors import classify

                _, code = classify(exc)
                self.failures[gw.venue] += 1
                self.reconnects[gw.venue] += 1
                delay = backoff.next_delay()
                log.warning("stream.reconnect", venue=gw.venue, stream=method, code=code, backoff_secs=delay)
                await self._sleep(delay)

    def _update(self, iid: str, t: Mapping[str, Any], mark_only: bool = False) -> None:
        info = t.get("info") or {}
        now = self._clock.now_ns()
        ts = int(t["timestamp"]) * 1_000_000 if t.get("timestamp") else now
        cur = self.latest.get(iid)
        if mark_only:  # Binance markPriceUpdate: mark, index, funding rate and next funding time
            if cur is None:
                return
            cur.mark = _f(t.get("markPrice")) or _f(info.get("p")) or cur.mark
            cur.index = _f(t.get("indexPrice")) or _f(info.get("i")) or cur.index
            cur.funding = _f(info.get("r")) if info.get("r") not in (None, "") else cur.funding
            cur.next_funding_ns = int(info["T"]) * 1_000_000 if info.get("T") else cur.next_funding_ns
            self._note_rate(iid, cur, int(t["timestamp"]) * 1_000_000 if t.get("timestamp") else now)
            return
        bid, ask = _f(t.get("bid")), _f(t.get("ask"))
        if bid is None or ask is None:
            return
        last = _f(t.get("last")) or (bid + ask) / 2
        new = Latest(bid, ask, last, ts) if cur is None else cur
        new.bid, new.ask, new.last, new.ts_ns = bid, ask, last, ts
        # rich tickers (Bybit): mark, index, funding, next settlement, interval and open interest in one message
        new.mark = _f(info.get("markPrice")) or new.mark
        new.index = _f(info.get("indexPrice")) or new.index
        if info.get("fundingRate") not in (None, ""):
            new.funding = _f(info.get("fundingRate"))
        if info.get("nextFundingTime"):
            new.next_funding_ns = int(info["nextFundingTime"]) * 1_000_000
        self._note_rate(iid, new, ts)
        if str(info.get("fundingIntervalHour") or "").isdigit() and int(info["fundingIntervalHour"]) > 0:
            new.interval_secs = int(info["fundingIntervalHour"]) * 3600
        if info.get("openInterest") not in (None, ""):
            new.open_interest = _f(info.get("openInterest"))
        self.latest[iid] = new

    def _note_rate(self, iid: str, cur: Latest, ts_ns: int) -> None:
        """Remember the rate in force for the period a settlement will close (venues show the next period's rate
        as soon as it settles)."""
        if cur.funding is not None and cur.next_funding_ns is not None and ts_ns < cur.next_funding_ns:
            pending = self._rate_before.setdefault(iid, {})
            pending[cur.next_funding_ns] = cur.funding
            for old in [t for t in pending if t < ts_ns - 86_400 * 10**9]:  # settlements long past
                del pending[old]

    async def _rest_quotes(self, gw: CcxtGateway, ids: list[str]) -> None:
        while True:
            try:
                for iid, (bid, ask, last, venue_ts) in (await gw.fetch_quotes(ids)).items():
                    self._update(
                        iid, {"bid": bid, "ask": ask, "last": last, "timestamp": venue_ts // 1_000_000 or None}
                    )
            except VenueError as exc:
                self.failures[gw.venue] += 1
                log.warning("stream.rest_quotes_failed", venue=gw.venue, code=exc.code)
            await self._sleep(self._tick)

    async def _rest_loop(self, gw: CcxtGateway, perps: list[str]) -> None:
        """What the streams do not carry, over REST at a slow pace: funding (and open interest)."""
        while True:
            for iid in perps:
                cur = self.latest.get(iid)
                if cur is None or (cur.funding is not None and cur.open_interest is not None):
                    continue
                try:
                    f = await gw.fetch_funding_now(iid)
                    cur.funding = _f(f["rate"]) if f["rate"] is not None else cur.funding
                    cur.next_funding_ns = f["ts_next_ns"] or cur.next_funding_ns
                    cur.interval_secs = f["interval_secs"] or cur.interval_secs
                    self._note_rate(iid, cur, self._clock.now_ns())
                    cur.mark = cur.mark or _f(f["mark"])
                    cur.index = cur.index or _f(f["index"])
                    oi = f.get("open_interest")
                    cur.open_interest = oi if oi is not None else await gw.fetch_open_interest(iid)
                except VenueError as exc:
                    log.warning("stream.rest_failed", instrument=iid, code=exc.code)
            await self._sleep(self._rest_every)

    # --- batches --------------------------------------------------------------------------------------------------
    def snapshot_batch(self) -> MarketBatch:
        now = self._clock.now_ns()
        snaps = []
        for iid, cur in self.latest.items():
            inst = self.instruments[iid]
            mark = cur.mark or cur.last
            if not inst.funding_interval_secs:
                snaps.append(MarketSnapshot(iid, cur.ts_ns, cur.bid, cur.ask, cur.last, mark, cur.index or cur.last))
                continue
            settlement = None
            due = self._next_funding.get(iid)
            if due is not None and now >= due and cur.funding is not None:
                settlement = FundingSettlement(due, self._rate_before.get(iid, {}).pop(due, cur.funding))
                self._next_funding.pop(iid)
            if cur.next_funding_ns is not None and cur.next_funding_ns > now:
                self._next_funding[iid] = cur.next_funding_ns
            snaps.append(
                MarketSnapshot(
                    iid,
                    cur.ts_ns,
                    cur.bid,
                    cur.ask,
                    cur.last,
                    mark,
                    cur.index,
                    funding_rate=cur.funding,
                    predicted_funding_rate=None,
                    funding_interval_secs=cur.interval_secs or inst.funding_interval_secs,
                    ts_next_funding_ns=cur.next_funding_ns,
                    settlement=settlement,
                    open_interest=cur.open_interest,
                )
            )
        self.n_bars += 1
        return MarketBatch(now, tuple(snaps))

    async def batches(self) -> AsyncIterator[MarketBatch]:
        self.start()
        try:
            n = 0
            while self._max_ticks is None or n < self._max_ticks:
                await self._clock.sleep(self._tick)
                yield self.snapshot_batch()
                n += 1
        finally:
            await self.stop()
