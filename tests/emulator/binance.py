"""Binance spot (``api.binance.com/api/v3``, ``/sapi``) and USDⓈ-M futures (``fapi.binance.com/fapi``) as ccxt calls
them, over an ``Account``: requests are HMAC-signed and checked, parameters read the way Binance reads them (an
unknown one is refused, as ``reduceOnly`` is on spot), and answers carry Binance's own fields and error codes.

Documented rules modelled (Binance API docs, 2024–2026):
- Spot ``POST /api/v3/order`` reads no ``reduceOnly`` (-1104, "Not all sent parameters were read"); ``LIMIT_MAKER``
  that would take is refused (-2010); fees on a buy are taken in the base asset bought.
- USDⓈ-M: hedge mode (``dualSidePosition``) needs ``positionSide`` LONG/SHORT on every order, one-way mode refuses
  them (-4061); ``GTX`` that would take is refused (-5022); reduce-only must reduce (-2022); margin is checked (-2019);
  ``POST /fapi/v1/marginType`` unchanged answers -4046 "No need to change margin type."
- ``GET /api/v3/myTrades``: symbol required, 24 h at most between start and end, limit 500 (max 1000).
  ``GET /fapi/v1/userTrades``: symbol required, 7 days at most, limit 500 (max 1000). ``GET /fapi/v1/income``: without
  start and end only the last 7 days, limit 100 (max 1000), oldest first from ``startTime``.
- New orders are unknown to ``GET /order`` and ``openOrders`` for ``Account.lookup_delay_ms`` (-2013).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.emulator.server import Signed
from tests.emulator.venue import ZERO, Account, EmuOrder, EmuTrade, Market, Rules, VenueReject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "binance"
SPOT, FAPI, SAPI = "/api.binance.com/api/v3", "/fapi.binance.com/fapi", "/api.binance.com/sapi"
DAY_MS = 86_400_000

# the parameters each signed endpoint reads (Binance refuses any other with -1104)
_SPOT_ORDER_PARAMS = {
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "newOrderRespType",
    "stopPrice",
    "icebergQty",
    "selfTradePreventionMode",
    "recvWindow",
    "timestamp",
    "signature",
}
_STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "expired": "EXPIRED",
    "rejected": "REJECTED",
}


def rules_from_fixtures() -> dict[tuple[Market, str], Rules]:
    """Trading rules of the recorded spot and USDⓈ-M exchange info (tick, step, minimum quantity and notional)."""
    out: dict[tuple[Market, str], Rules] = {}
    for market, name in (
        ("spot", "http_spot_market_exchange_info.json"),
        ("linear", "http_futures_market_exchange_info.json"),
    ):
        for s in json.loads((FIXTURES / name).read_text())["symbols"]:
            if market == "linear" and s.get("contractType") != "PERPETUAL":
                continue
            f = {x["filterType"]: x for x in s["filters"]}
            notional = f.get("NOTIONAL", f.get("MIN_NOTIONAL", {}))
            out[(market, s["symbol"])] = Rules(  # type: ignore[index]
                s["symbol"],
                market,  # type: ignore[arg-type]
                s["baseAsset"],
                s["quoteAsset"],
                Decimal(f["LOT_SIZE"]["stepSize"]).normalize(),
                Decimal(f["LOT_SIZE"]["minQty"]).normalize(),
                Decimal(f["PRICE_FILTER"]["tickSize"]).normalize(),
                Decimal(str(notional.get("minNotional") or notional.get("notional") or 0)),
            )
    return out


class BinanceDialect:
    """Routes of one Binance account. ``api_key``/``secret``: what ccxt must sign with."""

    venue = "binance"

    def __init__(self, account: Account, api_key: str, secret: str, withdrawals_enabled: bool = False) -> None:
        self.acct = account
        self.api_key, self.secret = api_key, secret
        self.withdrawals_enabled = withdrawals_enabled
        self.funding_rate: dict[str, Decimal] = {}
        self.next_funding_ms: dict[str, int] = {}
        self.frozen = False  # the process's price walk is paused (python -m tests.emulator)
        self.interval_hours: dict[str, int] = {}  # a perp's funding interval when not 8 h (fundingInfo)
        # the market's past, for history downloads: (market, symbol) -> [open ms, open, high, low, close, volume]
        # bars of ``bar_ms``; and settled funding before the account's own (ms, symbol, rate, mark)
        self.bars: dict[tuple[Market, str], list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]] = {}
        self.bar_ms = 3_600_000
        self.past_funding: list[tuple[int, str, Decimal, Decimal]] = []
        self.request = Signed("", {}, "")

    # --- plumbing -------------------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str]], Any]]:
        r: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", f"{SPOT}/exchangeInfo"): lambda q: self._fixture("http_spot_market_exchange_info.json"),
            ("GET", f"{FAPI}/v1/exchangeInfo"): lambda q: self._fixture("http_futures_market_exchange_info.json"),
            ("GET", "/dapi.binance.com/dapi/v1/exchangeInfo"): lambda q: json.loads(
                (FIXTURES.parent / "binance_dapi_exchange_info.json").read_text()
            ),
            ("GET", f"{FAPI}/v1/leverageBracket"): lambda q: self._fixture("leverage_bracket_btc_eth.json"),
            ("GET", f"{SPOT}/ticker/bookTicker"): self.spot_book,
            ("GET", f"{FAPI}/v1/ticker/bookTicker"): self.futures_book,
            ("GET", f"{FAPI}/v1/premiumIndex"): self.premium_index,
            ("GET", f"{FAPI}/v1/fundingRate"): self.funding_rate_history,
            ("GET", f"{FAPI}/v1/fundingInfo"): lambda q: [
                {
                    "symbol": s,
                    "fundingIntervalHours": self.interval_hours.get(s, 8),
                    "adjustedFundingRateCap": "0.03",
                    "adjustedFundingRateFloor": "-0.03",
                }
                for (m, s) in self.acct.rules
                if m == "linear"
            ],
            ("GET", f"{FAPI}/v1/openInterest"): lambda q: {
                "symbol": q.get("symbol"),
                "openInterest": "80000.000",
                "time": self.acct.now_ms(),
            },
            ("GET", f"{FAPI}/v1/time"): lambda q: {"serverTime": self.acct.now_ms()},
            ("GET", f"{SPOT}/klines"): lambda q: self.klines("spot", q, 1000),
            ("GET", f"{FAPI}/v1/klines"): lambda q: self.klines("linear", q, 1500),
            ("GET", f"{SPOT}/time"): lambda q: {"serverTime": self.acct.now_ms()},
        }
        signed: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("POST", f"{SPOT}/order"): self.spot_place,
            ("GET", f"{SPOT}/order"): lambda q: self._spot_order(self._get("spot", q)),
            ("DELETE", f"{SPOT}/order"): lambda q: self._spot_order(self._cancel(q)),
            ("GET", f"{SPOT}/openOrders"): lambda q: [
                self._spot_order(o) for o in self.acct.open_orders("spot", q.get("symbol"))
            ],
            ("GET", f"{SPOT}/allOrders"): lambda q: [self._spot_order(o) for o in self._all_orders("spot", q, DAY_MS)],
            ("GET", f"{FAPI}/v1/allOrders"): lambda q: [
                self._futures_order(o) for o in self._all_orders("linear", q, 7 * DAY_MS)
            ],
            ("GET", f"{SPOT}/myTrades"): self.spot_trades,
            ("GET", f"{SPOT}/account"): self.spot_account,
            ("POST", f"{SAPI}/v1/asset/transfer"): self.transfer,
            ("GET", f"{SAPI}/v1/account/apiRestrictions"): self.api_restrictions,
            ("POST", f"{FAPI}/v1/order"): self.futures_place,
            ("GET", f"{FAPI}/v1/order"): lambda q: self._futures_order(self._get("linear", q)),
            ("DELETE", f"{FAPI}/v1/order"): lambda q: self._futures_order(self._cancel(q)),
            ("GET", f"{FAPI}/v1/openOrders"): lambda q: [
                self._futures_order(o) for o in self.acct.open_orders("linear", q.get("symbol"))
            ],
            ("GET", f"{FAPI}/v1/userTrades"): self.futures_trades,
            ("GET", f"{FAPI}/v1/income"): self.income,
            ("GET", f"{FAPI}/v1/positionSide/dual"): lambda q: {"dualSidePosition": self.acct.hedge_mode},
            ("POST", f"{FAPI}/v1/positionSide/dual"): self.set_dual,
            ("POST", f"{FAPI}/v1/leverage"): self.set_leverage,
            ("POST", f"{FAPI}/v1/marginType"): self.set_margin_type,
            ("GET", f"{FAPI}/v2/account"): self.futures_account,
            ("GET", f"{FAPI}/v3/account"): self.futures_account,
            ("GET", f"{FAPI}/v2/balance"): lambda q: self.futures_account(q)["assets"],
            ("GET", f"{FAPI}/v3/balance"): lambda q: self.futures_account(q)["assets"],
            ("GET", f"{FAPI}/v2/positionRisk"): self.position_risk,
            ("GET", f"{FAPI}/v3/positionRisk"): self.position_risk,
        }
        for key, fn in signed.items():
            r[key] = self._signed(fn)
        return r

    def _signed(self, fn: Callable[[dict[str, str]], Any]) -> Callable[[dict[str, str]], Any]:
        def check(q: dict[str, str]) -> Any:
            raw, headers = self.request.raw, self.request.headers
            if headers.get("X-MBX-APIKEY") != self.api_key:
                raise VenueReject(-2015, "Invalid API-key, IP, or permissions for action.", 401)
            payload, _, sig = raw.rpartition("&signature=")
            good = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(good, sig):
                raise VenueReject(-1022, "Signature for this request is not valid.", 400)
            q.pop("signature", None)
            return fn(q)

        return check

    def _fixture(self, name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())

    # --- market data ----------------------------------------------------------------------------------------------
    def spot_book(self, q: dict[str, str]) -> Any:
        rows = [self._book("spot", s) for (m, s) in self.acct.prices if m == "spot"]
        return next((r for r in rows if r["symbol"] == q["symbol"]), None) if "symbol" in q else rows

    def futures_book(self, q: dict[str, str]) -> Any:
        rows = [self._book("linear", s) | {"time": self.acct.now_ms()} for (m, s) in self.acct.prices if m == "linear"]
        return next((r for r in rows if r["symbol"] == q["symbol"]), None) if "symbol" in q else rows

    def _book(self, market: Market, symbol: str) -> dict[str, Any]:
        bid, ask = self.acct.touch(market, symbol)
        return {"symbol": symbol, "bidPrice": str(bid), "bidQty": "5.000", "askPrice": str(ask), "askQty": "5.000"}

    def premium_index(self, q: dict[str, str]) -> Any:
        rows = [
            {
                "symbol": s,
                "markPrice": str(p),
                "indexPrice": str(p),
                "estimatedSettlePrice": str(p),
                "lastFundingRate": str(self.funding_rate.get(s, Decimal("0.0001"))),
                "interestRate": "0.00010000",
                "nextFundingTime": self.next_funding_ms.get(
                    s, (self.acct.now_ms() // (8 * 3600_000) + 1) * 8 * 3600_000
                ),
                "time": self.acct.now_ms(),
            }
            for (m, s), p in self.acct.prices.items()
            if m == "linear"
        ]
        return next((r for r in rows if r["symbol"] == q["symbol"]), None) if "symbol" in q else rows

    def klines(self, market: Market, q: dict[str, str], max_limit: int) -> Any:
        """``klines``: bars of the requested interval (only ``bar_ms`` is kept), oldest first from ``startTime``,
        limit 500 by default, ``max_limit`` at most."""
        if q.get("interval") != {3_600_000: "1h", 28_800_000: "8h", 60_000: "1m"}.get(self.bar_ms):
            raise VenueReject(-1120, "Invalid interval.")
        start, end = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
        limit = min(int(q.get("limit", 500)), max_limit)
        rows = [b for b in self.bars.get((market, q["symbol"]), []) if start <= b[0] <= end][:limit]
        return [
            [t, str(o), str(h), str(lo), str(c), str(v), t + self.bar_ms - 1, str(v * c), 100, "0", "0", "0"]
            for t, o, h, lo, c, v in rows
        ]

    def funding_rate_history(self, q: dict[str, str]) -> Any:
        """``fundingRate``: settled rates (with the mark), oldest first from ``startTime``, limit 100 (max 1000)."""
        own = {(i.time_ms, i.symbol, i.rate, i.mark) for i in self.acct.income if i.kind == "FUNDING_FEE"}
        rows = sorted(own | set(self.past_funding))
        start, end = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
        return [
            {"symbol": s, "fundingTime": t, "fundingRate": str(r), "markPrice": str(m)}
            for t, s, r, m in rows
            if s == q.get("symbol", s) and start <= t <= end
        ][: min(int(q.get("limit", 100)), 1000)]

    # --- orders ---------------------------------------------------------------------------------------------------
    def _journal(self, market: str, q: dict[str, str]) -> None:
        self.acct.submissions.append({"market": market, **q})

    def spot_place(self, q: dict[str, str]) -> Any:
        self._journal("spot", q)
        unread = set(q) - _SPOT_ORDER_PARAMS
        if unread:
            raise VenueReject(
                -1104,
                f"Not all sent parameters were read; read '{len(q) - len(unread)}' parameter(s) "
                f"but was sent '{len(q)}'.",
            )
        try:
            o = self._place("spot", q, post_only=q["type"] == "LIMIT_MAKER")
        except VenueReject as exc:
            if exc.code == -5022:
                raise VenueReject(-2010, "Order would immediately match and take.") from None
            raise
        return self._spot_order(o) | {
            "fills": [self._spot_fill(t) for t in self.acct.trades if t.order_id == o.order_id]
        }

    def futures_place(self, q: dict[str, str]) -> Any:
        self._journal("linear", q)
        reduce_only = q.get("reduceOnly", "false").lower() == "true"
        if reduce_only and self.acct.hedge_mode:
            raise VenueReject(-1106, "Parameter 'reduceOnly' sent when not required.")
        o = self._place(
            "linear",
            q,
            post_only=q.get("timeInForce") == "GTX",
            reduce_only=reduce_only,
            position_side=q.get("positionSide", "BOTH"),
        )
        return self._futures_order(o)

    def _place(self, market: Market, q: dict[str, str], **flags: Any) -> EmuOrder:
        return self.acct.place(
            market,
            q["symbol"],
            q["side"].lower(),
            "market" if q["type"] == "MARKET" else "limit",
            Decimal(q["quantity"]),
            Decimal(q["price"]) if "price" in q else None,
            q.get("newClientOrderId") or f"x-{len(self.acct.orders)}",
            **flags,
        )

    def _get(self, market: Market, q: dict[str, str]) -> EmuOrder:
        o = self.acct.find(q.get("symbol"), q.get("origClientOrderId"), int(q["orderId"]) if "orderId" in q else None)
        if o is None or o.market != market:
            raise VenueReject(-2013, "Order does not exist.")
        return o

    def _all_orders(self, market: Market, q: dict[str, str], max_span_ms: int) -> list[EmuOrder]:
        """``allOrders``: symbol required, at most ``max_span_ms`` between start and end, limit 500 (max 1000)."""
        if "symbol" not in q:
            raise VenueReject(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        rows = [o for o in self.acct.orders if o.market == market and o.symbol == q["symbol"]]
        return self._windowed(rows, q, max_span_ms, lambda o: o.created_ms)

    def _cancel(self, q: dict[str, str]) -> EmuOrder:
        return self.acct.cancel(q["symbol"], q.get("origClientOrderId"), int(q["orderId"]) if "orderId" in q else None)

    def _spot_order(self, o: EmuOrder) -> dict[str, Any]:
        return {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "transactTime": o.created_ms,
            "time": o.created_ms,
            "updateTime": o.updated_ms,
            "workingTime": o.created_ms,
            "price": str(o.price or ZERO),
            "origQty": str(o.qty),
            "executedQty": str(o.filled),
            "cummulativeQuoteQty": str(o.cum_quote),
            "status": _STATUS[o.status],
            "timeInForce": "GTC",
            "type": "MARKET" if o.type == "market" else "LIMIT_MAKER" if o.post_only else "LIMIT",
            "side": o.side.upper(),
            "isWorking": o.open,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _futures_order(self, o: EmuOrder) -> dict[str, Any]:
        return {
            "orderId": o.order_id,
            "symbol": o.symbol,
            "status": _STATUS[o.status],
            "clientOrderId": o.client_id,
            "price": str(o.price or ZERO),
            "avgPrice": str(o.avg_price),
            "origQty": str(o.qty),
            "executedQty": str(o.filled),
            "cumQty": str(o.filled),
            "cumQuote": str(o.cum_quote),
            "timeInForce": "GTX" if o.post_only else "GTC",
            "type": o.type.upper(),
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side.upper(),
            "positionSide": o.position_side,
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": o.type.upper(),
            "time": o.created_ms,
            "updateTime": o.updated_ms,
        }

    # --- trades and income ----------------------------------------------------------------------------------------
    def _window(self, q: dict[str, str], max_span_ms: int, default_limit: int) -> tuple[int | None, int | None, int]:
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
        if start is not None and end is not None and end - start > max_span_ms:
            raise VenueReject(
                -1127,
                "More than 7 days between startTime and endTime."
                if max_span_ms > DAY_MS
                else "More than 24 hours between startTime and endTime.",
            )
        limit = min(int(q.get("limit", default_limit)), 1000)
        return start, end, limit

    def _trades(self, market: Market, q: dict[str, str], max_span_ms: int) -> list[EmuTrade]:
        if "symbol" not in q:
            raise VenueReject(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        rows = [t for t in self.acct.trades if t.market == market and t.symbol == q["symbol"]]
        if "fromId" in q:
            return [t for t in rows if t.trade_id >= int(q["fromId"])][: self._window(q, max_span_ms, 500)[2]]
        return self._windowed(rows, q, max_span_ms, lambda t: t.time_ms)

    def _windowed(self, rows: list[Any], q: dict[str, str], max_span_ms: int, ms: Callable[[Any], int]) -> list[Any]:
        """Rows in the request's window, oldest first, at most ``limit``; with no window, the most recent."""
        start, end, limit = self._window(q, max_span_ms, 500)
        if start is None and end is None:
            return rows[-limit:]
        if start is None:
            start = (end or 0) - max_span_ms
        end = start + max_span_ms if end is None else end
        return [r for r in rows if start <= ms(r) <= end][:limit]

    def spot_trades(self, q: dict[str, str]) -> Any:
        return [
            self._spot_fill(t)
            | {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "orderListId": -1,
                "quoteQty": str(t.qty * t.price),
                "time": t.time_ms,
                "isBuyer": t.side == "buy",
                "isMaker": t.maker,
                "isBestMatch": True,
            }
            for t in self._trades("spot", q, DAY_MS)
        ]

    def _spot_fill(self, t: EmuTrade) -> dict[str, Any]:
        return {
            "price": str(t.price),
            "qty": str(t.qty),
            "commission": str(t.fee),
            "commissionAsset": t.fee_asset,
            "tradeId": t.trade_id,
        }

    def futures_trades(self, q: dict[str, str]) -> Any:
        return [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "side": t.side.upper(),
                "price": str(t.price),
                "qty": str(t.qty),
                "realizedPnl": str(t.realized_pnl),
                "marginAsset": "USDT",
                "quoteQty": str(t.qty * t.price),
                "commission": str(t.fee),
                "commissionAsset": t.fee_asset,
                "time": t.time_ms,
                "positionSide": t.position_side,
                "buyer": t.side == "buy",
                "maker": t.maker,
            }
            for t in self._trades("linear", q, 7 * DAY_MS)
        ]

    def income(self, q: dict[str, str]) -> Any:
        start, end, limit = self._window(q, 10**15, 100)
        now = self.acct.now_ms()
        rows = [
            i
            for i in self.acct.income
            if (q.get("incomeType") in (None, i.kind)) and (q.get("symbol") in (None, i.symbol))
        ]
        if start is None and end is None:
            rows = [i for i in rows if i.time_ms >= now - 7 * DAY_MS][-limit:]
        else:
            rows = [i for i in rows if (start is None or i.time_ms >= start) and (end is None or i.time_ms <= end)][
                :limit
            ]
        return [
            {
                "symbol": i.symbol,
                "incomeType": i.kind,
                "income": str(i.amount),
                "asset": i.asset,
                "info": "",
                "time": i.time_ms,
                "tranId": i.tran_id,
                "tradeId": "",
            }
            for i in rows
        ]

    # --- account --------------------------------------------------------------------------------------------------
    def spot_account(self, q: dict[str, str]) -> Any:
        locked: dict[str, Decimal] = {}
        for o in self.acct.open_orders("spot", None):
            r = self.acct.rules[("spot", o.symbol)]
            asset, amount = (
                (r.quote, (o.qty - o.filled) * (o.price or ZERO)) if o.side == "buy" else (r.base, o.qty - o.filled)
            )
            locked[asset] = locked.get(asset, ZERO) + amount
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": self.withdrawals_enabled,
            "canDeposit": True,
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "updateTime": self.acct.now_ms(),
            "balances": [
                {"asset": a, "free": str(v - locked.get(a, ZERO)), "locked": str(locked.get(a, ZERO))}
                for a, v in self.acct.wallets.get("spot", {}).items()
            ],
        }

    def futures_account(self, q: dict[str, str]) -> Any:
        wallet = self.acct.wallets.get("futures", {}).get("USDT", ZERO)
        upnl = sum((self.acct.unrealized(s, side) for (s, side) in self.acct.positions), ZERO)
        available = self.acct.futures_available()
        # Binance states each figure per asset (walletBalance...) and in total (totalWalletBalance...)
        figures = {
            "WalletBalance": wallet,
            "UnrealizedProfit": upnl,
            "MarginBalance": wallet + upnl,
            "CrossWalletBalance": wallet,
            "CrossUnPnl": upnl,
        }
        free = {"availableBalance": str(available), "maxWithdrawAmount": str(max(ZERO, available))}
        asset = {"asset": "USDT", **{k[0].lower() + k[1:]: str(v) for k, v in figures.items()}, **free}
        asset |= {"updateTime": self.acct.now_ms(), "balance": str(wallet)}
        totals = {f"total{k}": str(v) for k, v in figures.items()}
        return totals | free | {"assets": [asset], "positions": self.position_risk(q)}

    def position_risk(self, q: dict[str, str]) -> Any:
        out = []
        for (symbol, side), pos in self.acct.positions.items():
            if pos.qty == 0 or q.get("symbol") not in (None, symbol):
                continue
            mark = self.acct.price("linear", symbol)
            out.append(
                {
                    "symbol": symbol,
                    "positionSide": side,
                    "positionAmt": str(pos.qty),
                    "entryPrice": str(pos.entry),
                    "breakEvenPrice": str(pos.entry),
                    "markPrice": str(mark),
                    "unRealizedProfit": str(self.acct.unrealized(symbol, side)),
                    "liquidationPrice": "0",
                    "leverage": str(self.acct.leverage.get(symbol, 20)),
                    "marginType": self.acct.margin_mode.get(symbol, "cross"),
                    "isolatedMargin": "0",
                    "isolatedWallet": "0",
                    "isAutoAddMargin": "false",
                    "notional": str(pos.qty * mark),
                    "marginAsset": "USDT",
                    "initialMargin": str(self.acct.initial_margin(symbol, side)),
                    "maxNotionalValue": "1000000",
                    "updateTime": self.acct.now_ms(),
                }
            )
        return out

    def transfer(self, q: dict[str, str]) -> Any:
        names = {"MAIN": "spot", "UMFUTURE": "futures"}
        src, _, dst = q["type"].partition("_")
        if src not in names or dst not in names:
            raise VenueReject(-1100, "Illegal characters found in parameter 'type'.")
        return {"tranId": self.acct.transfer(q["asset"], Decimal(q["amount"]), names[src], names[dst])}

    def api_restrictions(self, q: dict[str, str]) -> Any:
        return {
            "ipRestrict": False,
            "createTime": 1_700_000_000_000,
            "enableReading": True,
            "enableSpotAndMarginTrading": True,
            "enableWithdrawals": self.withdrawals_enabled,
            "enableInternalTransfer": True,
            "enableMargin": False,
            "enableFutures": True,
            "permitsUniversalTransfer": True,
            "enableVanillaOptions": False,
        }

    def set_dual(self, q: dict[str, str]) -> Any:
        want = q["dualSidePosition"].lower() == "true"
        if want == self.acct.hedge_mode:
            raise VenueReject(-4059, "No need to change position side.")
        if any(p.qty for p in self.acct.positions.values()) or self.acct.open_orders("linear", None):
            raise VenueReject(-4068, "Position side cannot be changed if there exists position.")
        self.acct.hedge_mode = want
        return {"code": 200, "msg": "success"}

    def set_leverage(self, q: dict[str, str]) -> Any:
        lev = int(q["leverage"])
        if not 1 <= lev <= 125:
            raise VenueReject(-4028, "Leverage is not valid")
        self.acct.leverage[q["symbol"]] = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": q["symbol"]}

    def set_margin_type(self, q: dict[str, str]) -> Any:
        want = "isolated" if q["marginType"] == "ISOLATED" else "cross"
        if self.acct.margin_mode.get(q["symbol"], "cross") == want:
            raise VenueReject(-4046, "No need to change margin type.")
        if any(p.qty for (s, _), p in self.acct.positions.items() if s == q["symbol"]):
            raise VenueReject(-4048, "Margin type cannot be changed if there exists position.")
        self.acct.margin_mode[q["symbol"]] = want
        return {"code": 200, "msg": "success"}


def binance_account(usdt_spot: str = "100000", usdt_futures: str = "100000", clock_ms: int | None = None) -> Account:
    """A Binance account with the recorded markets, USDT in the spot and USDⓈ-M wallets, prices set per market."""
    acct = Account(
        rules_from_fixtures(),
        {"spot": {"USDT": Decimal(usdt_spot)}, "futures": {"USDT": Decimal(usdt_futures)}},
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0002"),
        spot_taker_fee=Decimal("0.001"),
        spot_maker_fee=Decimal("0.001"),
        clock_ms=clock_ms,
    )
    return acct
