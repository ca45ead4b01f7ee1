"""OKX's unified account read live into the accounts model: ccxt's own requests and parsing against a loopback OKX
that keeps the account; a fresh gateway reads what changed there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.accounts import AccountMode, MarginMode
from tests.venues.okx_server import OkxServer
from tests.venues.test_ccxt_gateway import SWAP, _gateway

NOW = 1_706_745_600_000_000_000


def _balance(usdt: float, btc: float) -> dict[str, Any]:
    details = [
        {"ccy": "USDT", "cashBal": str(usdt), "eq": str(usdt), "eqUsd": str(usdt), "disEq": str(usdt), "liab": ""},
        {
            "ccy": "BTC",
            "cashBal": str(btc),
            "eq": str(btc),
            "eqUsd": str(btc * 64_000),
            "liab": "",
            "disEq": str(btc * 64_000 * 0.95),
        },
    ]
    return {"code": "0", "msg": "", "data": [{"totalEq": str(usdt + btc * 64_000), "details": details}]}


def _positions(contracts: int) -> dict[str, Any]:
    row = {
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "mgnMode": "cross",
        "posSide": "net",
        "pos": str(contracts),
        "avgPx": "62000",
        "markPx": "64000",
        "lever": "1",
        "margin": "",
        "mmr": "128",
        "notionalUsd": "32000",
        "upl": "-1000",
        "ccy": "USDT",
        "posId": "1",
        "uTime": "1706745600000",
        "cTime": "1706745600000",
    }
    return {"code": "0", "msg": "", "data": [row] if contracts else []}


def test_the_unified_account_is_read_with_okx_s_own_collateral_discount_and_a_fresh_gateway_sees_a_change() -> None:
    async def go() -> None:
        server = OkxServer(account={"balance": _balance(50_000.0, 0.5), "positions": _positions(-50)})
        gw, runner = await _gateway(server)
        try:
            await gw.refresh_account(NOW)
            st = gw.account_state()
            assert st is not None and st.margin.mode is AccountMode.UNIFIED and st.equity == pytest.approx(82_000)
            m = st.margin
            assert m.cash == pytest.approx(50_000) and m.coins == {"BTC": pytest.approx(0.5)}
            assert m.haircut == pytest.approx(0.95) and m.coin_marks["BTC"] == pytest.approx(64_000)
            (p,) = m.perps
            # 50 contracts of 0.01 BTC, short (net mode: the sign is the position's); OKX's maintenance rate
            assert (p.instrument_id, p.qty, p.mode) == (SWAP, pytest.approx(-0.5), MarginMode.CROSS)
            assert p.fallback_mmr == pytest.approx(128 / 32_000)
            # a hedged short beside its coin, in a unified account: a long way from liquidation
            assert m.liquidation_factor("BTC") > 3
            await gw.close()
            await runner.cleanup()
            server.account = {"balance": _balance(82_000.0, 0.0), "positions": _positions(0)}  # closed at the venue
            fresh, runner = await _gateway(server)
            await fresh.refresh_account(NOW + 1)
            again = fresh.account_state()
            assert again is not None and again.margin.perps == () and again.margin.coins == {}
            await fresh.close()
        finally:
            await runner.cleanup()

    asyncio.run(go())
