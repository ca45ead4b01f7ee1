"""Binance's account read live (issue 14 item 1, "the same model the live path will read"): ccxt's own requests and
parsing against a loopback venue that keeps wallets and positions; a transfer moves USDT there, and a *fresh*
gateway reads the new wallets. The model's liquidation price is the one Binance reports."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.accounts import AccountMode, MarginMode
from bot.domain import Transfer, TransferStatus
from bot.venues.ccxt_accounts import MalformedAccount, binance_account_state
from bot.venues.ccxt_gateway import CcxtGateway
from bot.venues.fees import default_instruments
from tests.helpers import FUZZ_EXAMPLES
from tests.venues.loopback import Loopback, fixture, start
from tests.venues.test_binance import PERP, gateway, routes

NOW = 1_706_745_600_000_000_000


class Wallets:
    """The venue's side: a spot wallet, a USDⓈ-M wallet and one isolated short, kept across gateways."""

    def __init__(self) -> None:
        self.spot = {"USDT": 40_000.0, "BTC": 0.5}
        self.cross = 20_000.0  # USDⓈ-M cross wallet
        self.isolated = 15_500.0  # posted to the BTCUSDT short
        self.transfers: list[dict[str, str]] = []

    def account(self, req: web.Request) -> dict[str, Any]:
        return {
            "balances": [{"asset": a, "free": str(v), "locked": "0"} for a, v in self.spot.items()],
            "accountType": "SPOT",
            "canTrade": True,
            "permissions": ["SPOT"],
        }

    def position(self) -> dict[str, Any]:
        return {
            "symbol": "BTCUSDT",
            "positionSide": "BOTH",
            "positionAmt": "-0.500",
            "entryPrice": "62000.0",
            "markPrice": "64000.0",
            "unRealizedProfit": "-1000.0",
            "liquidationPrice": "0",
            "leverage": "2",
            "marginType": "isolated",
            "isolatedMargin": str(self.isolated - 1000.0),
            "isolatedWallet": str(self.isolated),
            "isAutoAddMargin": "false",
            "maxNotionalValue": "1000000",
            "notional": "-32000.0",
            "updateTime": 1706745600000,
        }

    def futures(self, req: web.Request) -> dict[str, Any]:
        margin = self.cross + self.isolated - 1000.0
        return {
            "totalWalletBalance": str(self.cross + self.isolated),
            "totalCrossWalletBalance": str(self.cross),
            "totalMarginBalance": str(margin),
            "totalUnrealizedProfit": "-1000.0",
            "availableBalance": str(self.cross),
            "maxWithdrawAmount": str(self.cross),
            "assets": [
                {
                    "asset": "USDT",
                    "walletBalance": str(self.cross + self.isolated),
                    "crossWalletBalance": str(self.cross),
                    "availableBalance": str(self.cross),
                    "marginBalance": str(margin),
                    "unrealizedProfit": "-1000.0",
                    "maxWithdrawAmount": str(self.cross),
                    "updateTime": 1706745600000,
                }
            ],
            "positions": [self.position()],
        }

    async def transfer(self, req: web.Request) -> dict[str, Any]:
        q = dict(req.query) | dict(await req.post())
        self.transfers.append(q)
        amount = float(q["amount"])
        if q["type"] == "MAIN_UMFUTURE":
            self.spot["USDT"] -= amount
            self.cross += amount
        elif q["type"] == "UMFUTURE_MAIN":
            self.cross -= amount
            self.spot["USDT"] += amount
        return {"tranId": 13526853623 + len(self.transfers)}


def _routes(w: Wallets) -> dict[tuple[str, str], Any]:
    from tests.venues.test_binance import Exchange

    out = routes(Exchange())
    out[("GET", "/api.binance.com/api/v3/account")] = w.account
    out[("GET", "/fapi.binance.com/fapi/v3/account")] = w.futures
    out[("GET", "/fapi.binance.com/fapi/v2/account")] = w.futures
    out[("GET", "/fapi.binance.com/fapi/v3/positionRisk")] = lambda req: [w.position()]
    out[("GET", "/fapi.binance.com/fapi/v2/positionRisk")] = lambda req: [w.position()]
    out[("POST", "/api.binance.com/sapi/v1/asset/transfer")] = w.transfer
    return out


async def _gateway(lb: Loopback) -> CcxtGateway:
    gw = gateway(lb, max_retries=1)
    await gw.load()
    return gw


def test_the_live_account_is_read_through_ccxt_and_a_fresh_gateway_sees_a_transfer() -> None:
    async def go() -> None:
        w = Wallets()
        lb = Loopback("binance", _routes(w))
        runner = await start(lb)
        try:
            gw = await _gateway(lb)
            assert gw.account_state() is None  # not read yet: the governor keeps the isolated formula
            await gw.refresh_account(NOW)
            st = gw.account_state()
            assert st is not None and st.margin.mode is AccountMode.SPLIT
            assert st.spot_free == pytest.approx(40_000.0) and st.margin.cash == pytest.approx(20_000.0)
            (p,) = st.margin.perps
            assert (p.instrument_id, p.qty, p.mode, p.isolated_margin) == (PERP, -0.5, MarginMode.ISOLATED, 15_500.0)
            # Binance's tier at 32,000 of notional (0.4%, 0): (0.5 x 62,000 + 15,500) / (0.5 x 1.004)
            assert st.margin.liquidation_price(p) == pytest.approx((31_000 + 15_500) / (0.5 * 1.004))
            assert st.equity == pytest.approx(40_000 + 0.5 * 64_000 + 20_000 + 15_500 - 1_000)
            # a governed transfer goes out through ccxt's transfer; the venue keeps it
            t = Transfer("m-1", "m-1", "d-m-1", "binance", "USDT", Decimal("5000"), "spot", "derivatives", NOW)
            await gw.transfer(t)
            (upd,) = gw.drain_events()
            assert upd.status is TransferStatus.DONE
            assert w.transfers[0]["type"] == "MAIN_UMFUTURE" and float(w.transfers[0]["amount"]) == 5000
            await gw.close()
            fresh = await _gateway(lb)  # a restart: nothing of the old gateway's memory
            await fresh.refresh_account(NOW + 1)
            again = fresh.account_state()
            assert again is not None
            assert again.spot_free == pytest.approx(35_000.0) and again.margin.cash == pytest.approx(25_000.0)
            assert again.equity == pytest.approx(st.equity)  # a transfer moves no equity
            await fresh.refresh_account(NOW + 2)  # within 30 s: no new read
            assert lb.hits("/api.binance.com/api/v3/account") == 2
            await fresh.close()
        finally:
            await runner.cleanup()

    asyncio.run(go())


def test_the_model_gives_the_liquidation_price_binance_reports() -> None:
    # a recorded positionRisk answer (nautilus_trader's fixture): a 20 BTC isolated long at 10x, Binance says
    # 5,930.78; the model with Binance's tiers gives the same to the cent
    (row, _short) = fixture("binance", "http_futures_account_positions_hedge.json")
    inst = default_instruments(("binance",), ("BTC",))
    st = binance_account_state(
        {}, {"info": {}}, [{"symbol": "BTC/USDT:USDT", "info": row}], inst, {PERP: "BTC/USDT:USDT"}
    )
    (p,) = st.margin.perps
    assert p.mode is MarginMode.ISOLATED and p.leverage == 10
    assert round(st.margin.liquidation_price(p), 2) == float(row["liquidationPrice"])


JUNK = st.one_of(
    st.none(),
    st.just(""),
    st.just("nan"),
    st.just("inf"),
    st.just("-1"),
    st.just("0"),
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-(10**6), 10**6).map(str),
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    field=st.sampled_from(
        ["positionAmt", "entryPrice", "markPrice", "leverage", "isolatedMargin", "unRealizedProfit", "isolatedWallet"]
    ),
    junk=JUNK,
)
def test_a_malformed_position_answer_never_becomes_an_account(field: str, junk: Any) -> None:
    row = dict(Wallets().position()) | {field: junk}
    inst = default_instruments(("binance",), ("BTC",))
    try:
        st_ = binance_account_state(
            {}, {"info": {}}, [{"symbol": "BTC/USDT:USDT", "info": row}], inst, {PERP: "BTC/USDT:USDT"}
        )
    except MalformedAccount:
        return  # refused: the gateway keeps its last whole state
    for p in st_.margin.perps:  # whatever is accepted is a position with real prices
        assert p.entry > 0 and p.mark > 0 and math.isfinite(p.qty) and p.leverage >= 1


def test_the_gateway_keeps_its_last_account_when_the_venue_answers_junk() -> None:
    async def go() -> None:
        w = Wallets()
        r = _routes(w)
        lb = Loopback("binance", r)
        runner = await start(lb)
        try:
            gw = await _gateway(lb)
            await gw.refresh_account(NOW)
            good = gw.account_state()
            assert good is not None
            r[("GET", "/fapi.binance.com/fapi/v3/positionRisk")] = lambda req: [w.position() | {"markPrice": "abc"}]
            r[("GET", "/fapi.binance.com/fapi/v2/positionRisk")] = lambda req: [w.position() | {"markPrice": "abc"}]
            await gw.refresh_account(NOW + 60 * 10**9)
            assert gw.account_state() is good and gw.errors["malformed_account"] == 1
            await gw.close()
        finally:
            await runner.cleanup()

    asyncio.run(go())
