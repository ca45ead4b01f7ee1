"""Tests' way into the emulator: a venue served on loopback and as many *fresh* gateways onto it as a test needs (a
restarted process is a new gateway with nothing in memory; the venue keeps its state)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import ccxt.async_support as ccxt_async

from bot.venues.ccxt_gateway import VENUE_OPTIONS, CcxtGateway, configure
from bot.venues.fees import PERP_FEES
from tests.emulator.binance import BinanceDialect, binance_account
from tests.emulator.bybit import BybitDialect, bybit_account
from tests.emulator.okx import OkxDialect, okx_account
from tests.emulator.server import Dialect, Emulator
from tests.emulator.venue import Account
from tests.venues.loopback import redirect

KEY, SECRET, PASSPHRASE = "emu-binance-key-4d1e", "emu-binance-secret-b07c55", "emu-pass-7"
SPOT_ID, PERP_ID = "binance:BTC/USDT", "binance:BTC/USDT:USDT"
BYBIT_SPOT_ID, BYBIT_PERP_ID = "bybit:BTC/USDT", "bybit:BTC/USDT:USDT"
OKX_SPOT_ID, OKX_PERP_ID = "okx:BTC/USDT", "okx:BTC/USDT:USDT"


@dataclass
class Venue:
    emu: Emulator
    acct: Account
    dialect: Dialect
    gateways: list[CcxtGateway] = field(default_factory=list)

    async def gateway(self, grace_secs: float = 1.0, max_retries: int = 2, timeout_ms: int = 800) -> CcxtGateway:
        """A fresh, loaded gateway on this venue: ccxt's own client for it, nothing remembered from another."""
        name = self.dialect.venue
        ex = configure(
            getattr(ccxt_async, name)(
                {
                    "apiKey": KEY,
                    "secret": SECRET,
                    "password": PASSPHRASE,  # OKX's passphrase (the others ignore it)
                    "enableRateLimit": False,
                    "timeout": timeout_ms,
                    "options": dict(VENUE_OPTIONS.get(name, {})),
                }
            )
        )
        redirect(ex, self.emu.url)
        gw = CcxtGateway(name, ex, PERP_FEES[name], max_retries=max_retries, backoff_secs=0.01)
        gw.lookup_grace_secs = grace_secs
        self.gateways.append(gw)
        await gw.load()
        gw.traded = {f"{name}:BTC/USDT", f"{name}:BTC/USDT:USDT"}
        return gw


@asynccontextmanager
async def _serve(dialect: Dialect) -> AsyncIterator[Venue]:
    """``dialect``'s account served on loopback until the block ends; every gateway made onto it is closed then."""
    emu = Emulator()
    emu.add(dialect)
    await emu.start()
    venue = Venue(emu, dialect.acct, dialect)
    try:
        yield venue
    finally:
        for gw in venue.gateways:
            await gw.close()
        await emu.stop()


@asynccontextmanager
async def binance_venue(spot_px: str = "60000", perp_px: str = "60030", **wallets: str) -> AsyncIterator[Venue]:
    """An emulated Binance account (spot + USDⓈ-M) with BTC priced, served until the block ends."""
    acct = binance_account(**wallets)
    acct.set_price("spot", "BTCUSDT", Decimal(spot_px))
    acct.set_price("linear", "BTCUSDT", Decimal(perp_px))
    acct.set_price("linear", "ETHUSDT", Decimal("3000"))
    acct.set_price("spot", "ETHUSDT", Decimal("3000"))
    async with _serve(BinanceDialect(acct, KEY, SECRET)) as venue:
        yield venue


@asynccontextmanager
async def bybit_venue(spot_px: str = "60000", perp_px: str = "60030", usdt: str = "200000") -> AsyncIterator[Venue]:
    """An emulated Bybit Unified Trading Account with BTC and ETH priced, served until the block ends."""
    acct = bybit_account(usdt)
    for market, px in (("spot", spot_px), ("linear", perp_px)):
        acct.set_price(market, "BTCUSDT", Decimal(px))  # type: ignore[arg-type]
        acct.set_price(market, "ETHUSDT", Decimal("3000"))  # type: ignore[arg-type]
    async with _serve(BybitDialect(acct, KEY, SECRET)) as venue:
        yield venue


@asynccontextmanager
async def okx_venue(spot_px: str = "60000", perp_px: str = "60030", usdt: str = "200000") -> AsyncIterator[Venue]:
    """An emulated OKX unified account with BTC priced (spot BTC-USDT, swap BTC-USDT-SWAP in 0.01-BTC contracts)."""
    acct = okx_account(usdt)
    acct.set_price("spot", "BTC-USDT", Decimal(spot_px))
    acct.set_price("linear", "BTC-USDT-SWAP", Decimal(perp_px))
    acct.set_price("linear", "ETH-USDT-SWAP", Decimal("3000"))
    async with _serve(OkxDialect(acct, KEY, SECRET, PASSPHRASE)) as venue:
        yield venue


def run_on(
    venue: Callable[..., AbstractAsyncContextManager[Venue]], check: Callable[[Venue], Awaitable[None]], **kw: str
) -> None:
    """``check`` against a venue served for it; every call a gateway made must be one the venue has."""

    async def go() -> None:
        async with venue(**kw) as v:
            await check(v)
            assert v.emu.unknown == [], v.emu.unknown

    asyncio.run(go())
