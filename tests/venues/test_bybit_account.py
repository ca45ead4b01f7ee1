"""Bybit's Unified Trading Account read live into the accounts model: ccxt's own requests and parsing against a
loopback venue that keeps the wallet and positions; a fresh gateway reads what changed at the venue."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from bot.accounts import AccountMode, MarginMode
from bot.venues.ccxt_gateway import CcxtGateway
from tests.venues.loopback import Loopback, fixture, start
from tests.venues.test_bybit import PERP, B, Exchange, gateway, ok, routes

NOW = 1_706_745_600_000_000_000


class Account:
    """The venue's side: the recorded wallet (with 0.5 BTC of spot added) and positions, which a test may change."""

    def __init__(self) -> None:
        self.wallet = fixture("bybit", "http_get_wallet_balance.json")
        btc = next(c for c in self.wallet["result"]["list"][0]["coin"] if c["coin"] == "BTC")
        btc.update({"walletBalance": "0.5", "equity": "0.5", "usdValue": "25250"})
        self.positions = fixture("bybit", "http_get_positions.json")

    def balance(self, req: web.Request) -> dict[str, Any]:
        return self.wallet

    def position_list(self, req: web.Request) -> dict[str, Any]:
        return self.positions


async def _gateway(lb: Loopback) -> CcxtGateway:
    gw = gateway(lb, max_retries=1)
    await gw.load()
    return gw


def test_the_unified_account_is_read_with_its_coins_as_collateral_and_a_fresh_gateway_sees_a_change() -> None:
    async def go() -> None:
        acct = Account()
        r = routes(Exchange())
        r[("GET", f"{B}/account/wallet-balance")] = acct.balance
        r[("GET", f"{B}/position/list")] = acct.position_list
        lb = Loopback("bybit", r)
        runner = await start(lb)
        try:
            gw = await _gateway(lb)
            await gw.refresh_account(NOW)
            st = gw.account_state()
            assert st is not None and st.margin.mode is AccountMode.UNIFIED and st.spot_free == 0.0
            m = st.margin
            assert m.cash == pytest.approx(1000.50) and m.coins["BTC"] == pytest.approx(0.5)
            assert m.coin_marks["BTC"] == pytest.approx(50_500.0) and m.coins["ETH"] == pytest.approx(-0.06142)
            assert st.equity == pytest.approx(3.31216591)  # the venue's own total, as it says
            (btc,) = [p for p in m.perps if p.instrument_id == PERP]
            assert (btc.qty, btc.entry, btc.mode, btc.leverage) == (0.5, 50_000.0, MarginMode.CROSS, 10.0)
            assert btc.fallback_mmr == pytest.approx(250 / 25_000)  # positionMM over positionValue: Bybit's rate
            # the cross liquidation counts the coin as collateral: a long with the coin beside it is safer
            coinless = replace(m, coins={})
            assert m.liquidation_price(btc) < coinless.liquidation_price(btc)
            await gw.close()
            # the venue closes the BTC position; a fresh gateway (a restart) reads the account as it is now
            acct.positions = ok(
                {"category": "linear", "list": acct.positions["result"]["list"][1:], "nextPageCursor": ""}
            )
            fresh = await _gateway(lb)
            await fresh.refresh_account(NOW + 1)
            again = fresh.account_state()
            assert again is not None and [p.instrument_id for p in again.margin.perps] == ["bybit:ETH/USDT:USDT"]
            await fresh.close()
        finally:
            await runner.cleanup()

    asyncio.run(go())
