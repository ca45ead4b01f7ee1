"""Funding intervals read from the venue, never assumed: the market's own field, then ``fetch_funding_interval``,
then the rate (Bybit's ticker ``fundingIntervalHour``, ccxt's ``interval``), then the spacing of the perpetual's settled
history. The answer replaces the instrument's provisional interval and records where it came from."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.domain import Instrument
from bot.venues.ccxt_markets import interval_secs as _interval_secs


class IntervalSource(Protocol):
    """What resolving an interval needs of a loaded venue client (``CcxtGateway`` is one)."""

    ex: Any
    instruments: dict[str, Instrument]
    symbols: dict[str, str]
    interval_source: dict[str, str]

    async def call(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any: ...

    async def fetch_funding_rate_history(
        self, instrument_id: str, since_ns: int | None = None
    ) -> list[tuple[int, float]]: ...


async def resolve_funding_interval(gw: IntervalSource, instrument_id: str) -> tuple[int | None, str]:
    """(seconds or None, where it came from) for one perpetual."""
    from bot.errors import VenueError

    inst = gw.instruments[instrument_id]
    sym = gw.symbols[instrument_id]
    if gw.interval_source.get(instrument_id) == "market":
        return inst.funding_interval_secs, "market"
    if gw.ex.has.get("fetchFundingInterval"):
        try:
            r = await gw.call("fetch_funding_interval", lambda: gw.ex.fetch_funding_interval(sym))
            if (secs := _interval_secs(r.get("interval"))) is not None:
                return _set_interval(gw, instrument_id, secs, "fetch_funding_interval")
        except VenueError:
            pass
    try:
        r = await gw.call("fetch_funding_rate", lambda: gw.ex.fetch_funding_rate(sym))
        hours = (r.get("info") or {}).get("fundingIntervalHour")  # Bybit's ticker states it in hours
        if hours not in (None, "") and str(hours).isdigit() and int(hours) > 0:
            return _set_interval(gw, instrument_id, int(hours) * 3600, "ticker fundingIntervalHour")
        if (secs := _interval_secs(r.get("interval"))) is not None:
            return _set_interval(gw, instrument_id, secs, "fetch_funding_rate")
    except VenueError:
        pass
    try:
        hist = await gw.fetch_funding_rate_history(instrument_id)
    except VenueError:
        hist = []
    gaps = sorted(b - a for (a, _), (b, _) in zip(hist, hist[1:], strict=False) if b > a)
    if gaps:
        secs = round(gaps[len(gaps) // 2] / 1e9 / 60) * 60  # the median spacing, to the minute
        return _set_interval(gw, instrument_id, secs, "history")
    return None, "unknown"


def _set_interval(gw: IntervalSource, instrument_id: str, secs: int, source: str) -> tuple[int, str]:
    gw.instruments[instrument_id] = dataclasses.replace(gw.instruments[instrument_id], funding_interval_secs=secs)
    gw.interval_source[instrument_id] = source
    return secs, source
