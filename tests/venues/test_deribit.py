"""Deribit's instruments (dated futures and the perpetual, inverse, BTC-settled) through ccxt on a recorded real
payload: the metadata S3 needs from a venue whose quarterlies the G4 calendar also knows."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.async_support as ccxt_async

from bot.domain import InstrumentKind
from bot.governor.calendar import venue_quarterly_expiry
from bot.venues.ccxt_gateway import CcxtGateway, configure
from bot.venues.fees import PERP_FEES
from tests.venues.loopback import Loopback, redirect, start


def test_deribit_futures_and_perpetual_become_instruments() -> None:
    async def go() -> None:
        lb = Loopback(
            "deribit", {("GET", "/www.deribit.com/api/v2/public/get_instruments"): "http_get_instruments.json"}
        )
        runner = await start(lb)
        ex = configure(ccxt_async.deribit({"enableRateLimit": False, "timeout": 2000}))
        redirect(ex, lb.url)
        gw = CcxtGateway("deribit", ex, PERP_FEES["okx"], max_retries=0)
        try:
            inst = await gw.load()
            perp = inst["deribit:BTC/USD:BTC"]
            assert perp.kind is InstrumentKind.PERP and perp.inverse and perp.settle == "BTC"
            assert perp.contract_size == Decimal("10")  # USD 10 per contract
            fut = inst["deribit:BTC/USD:BTC-241227"]
            assert fut.kind is InstrumentKind.FUTURE and fut.inverse
            # the payload's expiration_timestamp (2024-12-27 12:00 UTC) is what G4's expiry close uses for this
            # instrument; the calendar's 08:00 UTC venue rule still opens the blackout earlier, never later
            assert fut.ts_expiry_ns == 1735300800000 * 1_000_000
            assert int(venue_quarterly_expiry(2024, 12).timestamp()) * 10**9 <= fut.ts_expiry_ns
            assert not any(i.kind is None for i in inst.values()) and len(inst) == 2  # option and combo skipped
            assert not lb.unknown
        finally:
            await gw.close()
            await runner.cleanup()

    asyncio.run(go())
