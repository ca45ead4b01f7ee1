"""Bybit v5, Unified Trading Account (``api.bybit.com/v5``), spot and USDT perpetuals as ccxt calls them, over an
``Account`` whose spot and linear markets trade from one wallet: requests are HMAC-signed and checked, answers carry
Bybit's envelope (``retCode``/``retMsg``/``result``, HTTP 200 for refusals) and its own error codes.

Documented rules modelled (Bybit v5 API docs, 2024–2026):
- One USDT wallet backs spot buys and perpetual margin (a spot buy needs what the perpetuals' margin leaves free);
  a spot buy's fee is taken in the coin bought.
- ``POST /v5/order/create`` answers only the ids; the state is read later. A ``PostOnly`` order that would take is
  accepted and then cancelled (``rejectReason`` ``EC_PostOnlyWillTakeLiquidity``), not refused. A spot market buy
  counts ``qty`` in the quote coin unless ``marketUnit=baseCoin``. ``reduceOnly`` must reduce (110017).
- ``POST /v5/position/set-leverage`` with the leverage the symbol has answers 110043 "Set leverage not modified".
- ``GET /v5/order/realtime``: open orders only; ``GET /v5/order/history``: closed ones (filled, cancelled),
  ``orderStatus`` filters. Both newest first, limit 20 by default (50 at most), at most 7 days between start and end.
- ``GET /v5/execution/list``: trades (``execType=Trade``) and funding settlements (``execType=Funding``, where
  ``execFee`` is what the position *paid*: negative when it received, ``feeRate`` the settled rate, ``execPrice``
  the mark and ``execQty`` the position size), newest first, limit 50 by default (100 at most), 7 days at most.
- ``GET /v5/market/funding/history``: settled rates, newest first, limit 200 at most; no mark price.
- New orders are unknown to lookups for ``Account.lookup_delay_ms``.
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
from tests.emulator.venue import ZERO, Account, EmuOrder, Market, Rules, VenueReject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bybit"
V5 = "/api.bybit.com/v5"
DAY_MS = 86_400_000
_STATUS = {
    "new": "New",
    "partially_filled": "PartiallyFilled",
    "filled": "Filled",
    "canceled": "Cancelled",
    "expired": "Cancelled",
    "rejected": "Rejected",
}
# the emulator's venue-neutral refusals (Binance's codes) as Bybit words them, per market
_CODES: dict[int | str, tuple[int, int, str]] = {  # code -> (spot code, linear code, message)
    -1121: (170121, 10001, "params error: Symbol Is Invalid"),
    -4015: (170141, 110072, "OrderLinkedID is duplicate"),
    -1013: (170137, 10001, "Order quantity or price is invalid for the instrument's filters"),
    -2010: (170131, 110007, "Insufficient balance."),
    -2019: (170131, 110007, "ab not enough for new order"),
    -2022: (170131, 110017, "Reduce-only rule not satisfied"),
    -2011: (170213, 110001, "Order does not exist."),
}


def rules_from_fixtures() -> dict[tuple[Market, str], Rules]:
    """Trading rules of the recorded spot and linear instruments (tick, step, minimum quantity and order value)."""
    out: dict[tuple[Market, str], Rules] = {}
    for market in ("spot", "linear"):
        for s in json.loads((FIXTURES / f"http_get_instruments_{market}.json").read_text())["result"]["list"]:
            lot = s["lotSizeFilter"]
            out[(market, s["symbol"])] = Rules(  # type: ignore[index]
                s["symbol"],
                market,  # type: ignore[arg-type]
                s["baseCoin"],
                s["quoteCoin"],
                Decimal(lot.get("qtyStep") or lot["basePrecision"]).normalize(),
                Decimal(lot["minOrderQty"]).normalize(),
                Decimal(s["priceFilter"]["tickSize"]).normalize(),
                Decimal(lot.get("minNotionalValue") or lot.get("minOrderAmt") or 0),
            )
    return out


def bybit_account(usdt: str = "200000") -> Account:
    """A Unified Trading Account holding ``usdt``, with Bybit's regular fees (spot 0.1%, perpetuals 0.055% taker
    and 0.02% maker)."""
    return Account(
        rules_from_fixtures(),
        {"unified": {"USDT": Decimal(usdt)}},
        taker_fee=Decimal("0.00055"),
        maker_fee=Decimal("0.0002"),
        spot_taker_fee=Decimal("0.001"),
        spot_maker_fee=Decimal("0.001"),
        wallet_of={"spot": "unified", "linear": "unified"},
    )


class BybitDialect:
    """Routes of one Bybit unified account. ``api_key``/``secret``: what ccxt must sign with."""

    venue = "bybit"
    reject_status = 200  # Bybit refuses with HTTP 200 and a retCode

    def __init__(self, account: Account, api_key: str, secret: str, withdrawals_enabled: bool = False) -> None:
        self.acct = account
        self.api_key, self.secret = api_key, secret
        self.withdrawals_enabled = withdrawals_enabled
        self.funding_rate: dict[str, Decimal] = {}
        self.next_funding_ms: dict[str, int] = {}
        self.interval_hours: dict[str, int] = {}
        self.frozen = False
        self.past_funding: list[tuple[int, str, Decimal]] = []  # settled before the account's own (ms, symbol, rate)
        self.request = Signed("", {}, "")
        self._market_of: dict[str, Market] = {}  # the market an order id was placed on

    # --- plumbing -------------------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str]], Any]]:
        r: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", f"{V5}/market/instruments-info"): self.instruments,
            ("GET", f"{V5}/market/tickers"): self.tickers,
            ("GET", f"{V5}/market/funding/history"): self.funding_rate_history,
            ("GET", f"{V5}/market/time"): lambda q: self._ok(
                {"timeSecond": str(self.acct.now_ms() // 1000), "timeNano": str(self.acct.now_ms() * 1_000_000)}
            ),
        }
        signed: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", f"{V5}/user/query-api"): self.query_api,
            ("GET", f"{V5}/account/info"): lambda q: self._ok(
                json.loads((FIXTURES / "http_get_account_info.json").read_text())["result"]
            ),
            ("GET", f"{V5}/account/wallet-balance"): self.wallet_balance,
            ("GET", f"{V5}/position/list"): self.positions,
            ("POST", f"{V5}/position/set-leverage"): self.set_leverage,
            ("POST", f"{V5}/order/create"): self.place,
            ("POST", f"{V5}/order/cancel"): self.cancel,
            ("GET", f"{V5}/order/realtime"): self.realtime,
            ("GET", f"{V5}/order/history"): self.history,
            ("GET", f"{V5}/execution/list"): self.executions,
        }
        for key, fn in signed.items():
            r[key] = self._signed(fn)
        return r

    def _signed(self, fn: Callable[[dict[str, str]], Any]) -> Callable[[dict[str, str]], Any]:
        def check(q: dict[str, str]) -> Any:
            h = self.request.headers
            if h.get("X-BAPI-API-KEY") != self.api_key:
                raise VenueReject(10003, "API key is invalid.")
            payload = h.get("X-BAPI-TIMESTAMP", "") + self.api_key + h.get("X-BAPI-RECV-WINDOW", "") + self.request.raw
            good = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(good, h.get("X-BAPI-SIGN", "")):
                raise VenueReject(10004, "Error sign, please check your signature generation algorithm.")
            return fn(q)

        return check

    def _ok(self, result: Any) -> dict[str, Any]:
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": self.acct.now_ms()}

    def reject_body(self, exc: VenueReject) -> dict[str, Any]:
        return {"retCode": exc.code, "retMsg": exc.msg, "result": {}, "retExtInfo": {}, "time": self.acct.now_ms()}

    def _refuse(self, exc: VenueReject, market: Market) -> VenueReject:
        spot, linear, msg = _CODES.get(exc.code, (exc.code, exc.code, exc.msg))  # type: ignore[arg-type]
        return VenueReject(spot if market == "spot" else linear, msg)

    @staticmethod
    def _market(q: dict[str, str]) -> Market:
        cat = q.get("category")
        if cat not in ("spot", "linear"):
            raise VenueReject(10001, f"params error: category {cat!r} not supported here")
        return cat  # type: ignore[return-value]

    # --- market data ----------------------------------------------------------------------------------------------
    def instruments(self, q: dict[str, str]) -> Any:
        cat = q.get("category", "spot")
        if q.get("status") == "PreLaunch":
            return self._ok({"category": cat, "list": [], "nextPageCursor": ""})
        body = json.loads((FIXTURES / f"http_get_instruments_{cat}.json").read_text())
        body["result"] |= {"category": cat, "nextPageCursor": ""}  # Bybit names the category (the recording had not)
        return body

    def tickers(self, q: dict[str, str]) -> Any:
        market = self._market(q)
        rows = []
        for (m, s), p in self.acct.prices.items():
            if m != market or q.get("symbol", s) != s:
                continue
            bid, ask = self.acct.touch(m, s)
            row: dict[str, Any] = {
                "symbol": s,
                "lastPrice": str(p),
                "bid1Price": str(bid),
                "bid1Size": "5",
                "ask1Price": str(ask),
                "ask1Size": "5",
                "prevPrice24h": str(p),
                "highPrice24h": str(p),
                "lowPrice24h": str(p),
                "volume24h": "1000",
                "turnover24h": str(p * 1000),
            }
            if m == "linear":
                row |= {
                    "markPrice": str(p),
                    "indexPrice": str(p),
                    "fundingRate": str(self.funding_rate.get(s, Decimal("0.0001"))),
                    "nextFundingTime": str(self.next_funding_ms.get(s, self._next_settlement(s))),
                    "fundingIntervalHour": str(self.interval_hours.get(s, 8)),
                    "openInterest": "50000",
                    "openInterestValue": str(p * 50000),
                }
            rows.append(row)
        return self._ok({"category": market, "list": rows})

    def _next_settlement(self, symbol: str) -> int:
        every = self.interval_hours.get(symbol, 8) * 3_600_000
        return (self.acct.now_ms() // every + 1) * every

    def funding_rate_history(self, q: dict[str, str]) -> Any:
        own = {(i.time_ms, i.symbol, i.rate) for i in self.acct.income if i.kind == "FUNDING_FEE"}
        rows = sorted(own | set(self.past_funding), reverse=True)  # newest first
        end = int(q.get("endTime", 2**62))
        start = int(q.get("startTime", 0))
        out = [
            {"symbol": s, "fundingRate": str(r), "fundingRateTimestamp": str(t)}
            for t, s, r in rows
            if s == q.get("symbol", s) and start <= t <= end
        ][: min(int(q.get("limit", 200)), 200)]
        return self._ok({"category": "linear", "list": out})

    # --- account --------------------------------------------------------------------------------------------------
    def query_api(self, q: dict[str, str]) -> Any:
        body = json.loads((FIXTURES / "http_get_user_query_api.json").read_text())["result"]
        wallet = ["AccountTransfer", "SubMemberTransfer"] + (["Withdraw"] if self.withdrawals_enabled else [])
        body["permissions"] = body["permissions"] | {"Wallet": wallet}
        body["apiKey"], body["readOnly"] = self.api_key, 0
        return self._ok(body)

    def wallet_balance(self, q: dict[str, str]) -> Any:
        if q.get("accountType") != "UNIFIED":
            raise VenueReject(10001, "accountType only support UNIFIED.")
        wallet = self.acct.wallets.get("unified", {})
        upnl = sum((self.acct.unrealized(s, side) for (s, side) in self.acct.positions), ZERO)
        coins, total = [], ZERO
        for coin, qty in sorted(wallet.items()):
            px = Decimal(1) if coin == "USDT" else self.acct.prices.get(("spot", f"{coin}USDT"), ZERO)
            equity = qty + (upnl if coin == "USDT" else ZERO)
            total += equity * px
            coins.append(
                {
                    "coin": coin,
                    "walletBalance": str(qty),
                    "equity": str(equity),
                    "usdValue": str(equity * px),
                    "unrealisedPnl": str(upnl if coin == "USDT" else ZERO),
                    "borrowAmount": "0",
                    "accruedInterest": "0",
                    "locked": "0",
                    "totalOrderIM": str(self.acct.open_order_margin() if coin == "USDT" else ZERO),
                    "totalPositionIM": str(
                        sum((self.acct.initial_margin(s, d) for (s, d) in self.acct.positions), ZERO)
                        if coin == "USDT"
                        else ZERO
                    ),
                    "totalPositionMM": "0",
                    "cumRealisedPnl": "0",
                    "marginCollateral": True,
                    "collateralSwitch": True,
                    "spotBorrow": "0",
                }
            )
        acct = {
            "accountType": "UNIFIED",
            "totalEquity": str(total),
            "totalWalletBalance": str(total - upnl),
            "totalMarginBalance": str(total),
            "totalAvailableBalance": str(self.acct.futures_available()),
            "totalPerpUPL": str(upnl),
            "totalInitialMargin": "0",
            "totalMaintenanceMargin": "0",
            "accountIMRate": "0",
            "accountMMRate": "0",
            "accountLTV": "0",
            "coin": coins,
        }
        return self._ok({"list": [acct]})

    def positions(self, q: dict[str, str]) -> Any:
        if self._market(q) != "linear":
            raise VenueReject(10001, "params error: category only support linear or inverse or option")
        if "symbol" not in q and "settleCoin" not in q and "baseCoin" not in q:
            raise VenueReject(10001, "params error: symbol or settleCoin is required")
        rows = []
        for (m, s), rules in self.acct.rules.items():
            if m != "linear" or q.get("symbol", s) != s:
                continue
            pos = self.acct.positions.get((s, "BOTH"))
            if (pos is None or pos.qty == 0) and "symbol" not in q:
                continue  # by settle coin: open positions only
            qty = pos.qty if pos is not None else ZERO
            mark = self.acct.price("linear", s)
            lev = self.acct.leverage.get(s, 10)
            value = abs(qty) * mark * rules.contract_size
            rows.append(
                {
                    "positionIdx": 0,
                    "symbol": s,
                    "side": "" if qty == 0 else "Buy" if qty > 0 else "Sell",
                    "size": str(abs(qty)),
                    "avgPrice": str(pos.entry if pos is not None else ZERO),
                    "positionValue": str(value),
                    "tradeMode": 1 if self.acct.margin_mode.get(s) == "isolated" else 0,
                    "positionStatus": "Normal",
                    "leverage": str(lev),
                    "markPrice": str(mark),
                    "liqPrice": "",
                    "positionIM": str(value / lev),
                    "positionMM": str(value * Decimal("0.005")),
                    "positionBalance": str(value / lev),
                    "unrealisedPnl": str(self.acct.unrealized(s)),
                    "curRealisedPnl": "0",
                    "cumRealisedPnl": "0",
                    "riskId": 1,
                    "riskLimitValue": "2000000",
                    "isReduceOnly": False,
                    "createdTime": "1700000000000",
                    "updatedTime": str(self.acct.now_ms()),
                    "seq": 1,
                }
            )
        return self._ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    def set_leverage(self, q: dict[str, str]) -> Any:
        lev = int(Decimal(q["buyLeverage"]))
        if Decimal(q["buyLeverage"]) != Decimal(q.get("sellLeverage", q["buyLeverage"])):
            raise VenueReject(10001, "params error: buy leverage must equal sell leverage in one-way mode")
        if self.acct.leverage.get(q["symbol"], 10) == lev:
            raise VenueReject(110043, "Set leverage not modified")
        self.acct.leverage[q["symbol"]] = lev
        return self._ok({})

    # --- orders ---------------------------------------------------------------------------------------------------
    def place(self, q: dict[str, str]) -> Any:
        market = self._market(q)
        self.acct.submissions.append({"market": market, "newClientOrderId": q.get("orderLinkId", ""), **q})
        side = q["side"].lower()
        is_market = q["orderType"] == "Market"
        qty = Decimal(q["qty"])
        price = None if is_market else Decimal(q["price"])
        if market == "spot" and is_market and side == "buy" and q.get("marketUnit") != "baseCoin":
            rules = self.acct.rules[("spot", q["symbol"])]
            _bid, ask = self.acct.touch("spot", q["symbol"])
            qty = (qty / ask // rules.qty_step) * rules.qty_step  # qty was quote coin: what it buys at the ask
        post_only = q.get("timeInForce") == "PostOnly"
        reduce_only = market == "linear" and str(q.get("reduceOnly", "false")).lower() == "true"
        cid = q.get("orderLinkId") or f"x-{len(self.acct.orders)}"
        try:
            o = self.acct.place(
                market,
                q["symbol"],
                side,
                "market" if is_market else "limit",
                qty,
                price,
                cid,
                post_only=post_only,
                reduce_only=reduce_only,
            )
        except VenueReject as exc:
            if exc.code == -5022:  # a post-only that would take: accepted, then cancelled by the venue
                o = self.acct.accept_cancelled(
                    market, q["symbol"], side, qty, price, cid, "EC_PostOnlyWillTakeLiquidity"
                )
            else:
                raise self._refuse(exc, market) from None
        self._market_of[str(o.order_id)] = market
        return self._ok({"orderId": str(o.order_id), "orderLinkId": o.client_id})

    def cancel(self, q: dict[str, str]) -> Any:
        market = self._market(q)
        try:
            o = self.acct.cancel(q["symbol"], q.get("orderLinkId"), int(q["orderId"]) if q.get("orderId") else None)
        except VenueReject as exc:
            raise self._refuse(exc, market) from None
        return self._ok({"orderId": str(o.order_id), "orderLinkId": o.client_id})

    def _orders(self, q: dict[str, str], open_: bool) -> list[EmuOrder]:
        market = self._market(q)
        cutoff = self.acct.now_ms() - self.acct.lookup_delay_ms
        want_status = q.get("orderStatus")
        rows = []
        for o in reversed(self.acct.orders):  # newest first
            if o.market != market or o.open != open_ or o.created_ms > cutoff:
                continue
            if q.get("symbol", o.symbol) != o.symbol or q.get("orderLinkId", o.client_id) != o.client_id:
                continue
            if q.get("orderId") and q["orderId"] != str(o.order_id):
                continue
            if want_status and _STATUS[o.status] != want_status:
                continue
            rows.append(o)
        return rows

    def realtime(self, q: dict[str, str]) -> Any:
        rows = self._orders(q, open_=True)[: min(int(q.get("limit", 20)), 50)]
        return self._ok({"category": q["category"], "list": [self._order(o) for o in rows], "nextPageCursor": ""})

    def history(self, q: dict[str, str]) -> Any:
        start, end, limit = self._window(q, 20, 50)
        rows = [o for o in self._orders(q, open_=False) if start <= o.created_ms <= end][:limit]
        return self._ok({"category": q["category"], "list": [self._order(o) for o in rows], "nextPageCursor": ""})

    def _window(self, q: dict[str, str], default_limit: int, max_limit: int) -> tuple[int, int, int]:
        """A request's time window (at most 7 days; the last 7 days when none is sent) and its row limit."""
        now = self.acct.now_ms()
        end = int(q["endTime"]) if "endTime" in q else None
        start = int(q["startTime"]) if "startTime" in q else None
        if start is not None and end is not None and end - start > 7 * DAY_MS:
            raise VenueReject(10001, "params error: The time range between startTime and endTime cannot exceed 7 days")
        if start is None and end is None:
            end, start = now, now - 7 * DAY_MS
        elif start is None:
            start = (end or now) - 7 * DAY_MS
        elif end is None:
            end = start + 7 * DAY_MS
        assert start is not None and end is not None
        return start, end, min(int(q.get("limit", default_limit)), max_limit)

    def _order(self, o: EmuOrder) -> dict[str, Any]:
        return {
            "orderId": str(o.order_id),
            "orderLinkId": o.client_id,
            "symbol": o.symbol,
            "price": str(o.price or ZERO),
            "qty": str(o.qty),
            "side": o.side.capitalize(),
            "isLeverage": "0",
            "positionIdx": 0,
            "orderStatus": _STATUS[o.status],
            "cancelType": "UNKNOWN",
            "rejectReason": o.reject_reason or "EC_NoError",
            "avgPrice": str(o.avg_price) if o.filled else "",
            "leavesQty": str(o.qty - o.filled if o.open else ZERO),
            "leavesValue": "0",
            "cumExecQty": str(o.filled),
            "cumExecValue": str(o.cum_quote),
            "cumExecFee": "0",
            "timeInForce": "PostOnly" if o.post_only else "IOC" if o.type == "market" else "GTC",
            "orderType": "Market" if o.type == "market" else "Limit",
            "stopOrderType": "",
            "triggerPrice": "0",
            "takeProfit": "0",
            "stopLoss": "0",
            "reduceOnly": o.reduce_only,
            "closeOnTrigger": False,
            "createdTime": str(o.created_ms),
            "updatedTime": str(o.updated_ms),
        }

    # --- executions: trades and funding ---------------------------------------------------------------------------
    def executions(self, q: dict[str, str]) -> Any:
        market = self._market(q)
        start, end, limit = self._window(q, 50, 100)
        kind = q.get("execType")
        rows: list[tuple[int, dict[str, Any]]] = []
        if kind in (None, "Trade"):
            for t in self.acct.trades:
                if t.market != market or q.get("symbol", t.symbol) != t.symbol:
                    continue
                if q.get("orderLinkId", t.client_id) != t.client_id:
                    continue
                rules = self.acct.rules[(market, t.symbol)]
                rows.append(
                    (
                        t.time_ms,
                        {
                            "symbol": t.symbol,
                            "orderId": str(t.order_id),
                            "orderLinkId": t.client_id,
                            "side": t.side.capitalize(),
                            "orderPrice": str(t.price),
                            "orderQty": str(t.qty),
                            "leavesQty": "0",
                            "orderType": "Limit" if t.maker else "Market",
                            "execFee": str(t.fee),
                            "feeCurrency": t.fee_asset,
                            "execId": f"e-{t.trade_id}",
                            "execPrice": str(t.price),
                            "execQty": str(t.qty),
                            "execType": "Trade",
                            "execValue": str(t.qty * t.price * rules.contract_size),
                            "execTime": str(t.time_ms),
                            "isMaker": t.maker,
                            "feeRate": str(
                                (self.acct.spot_maker_fee if t.maker else self.acct.spot_taker_fee)
                                if market == "spot"
                                else (self.acct.maker_fee if t.maker else self.acct.taker_fee)
                            ),
                            "markPrice": str(t.price),
                            "closedSize": "0",
                            "seq": t.trade_id,
                        },
                    )
                )
        if kind in (None, "Funding") and market == "linear":
            for i in self.acct.income:
                if i.kind != "FUNDING_FEE" or q.get("symbol", i.symbol) != i.symbol:
                    continue
                rows.append(
                    (
                        i.time_ms,
                        {
                            "symbol": i.symbol,
                            "orderId": f"{i.time_ms}-{i.symbol}-funding",
                            "orderLinkId": "",
                            "side": "Buy" if i.position_qty > 0 else "Sell",
                            "orderPrice": "0",
                            "orderQty": "0",
                            "leavesQty": "0",
                            "orderType": "UNKNOWN",
                            "execFee": str(-i.amount),  # what the position paid: negative when it received
                            "feeCurrency": i.asset,
                            "execId": f"f-{i.tran_id}",
                            "execPrice": str(i.mark),
                            "execQty": str(abs(i.position_qty)),
                            "execType": "Funding",
                            "execValue": str(abs(i.position_qty) * i.mark),
                            "execTime": str(i.time_ms),
                            "isMaker": False,
                            "feeRate": str(i.rate),
                            "markPrice": str(i.mark),
                            "closedSize": "0",
                            "seq": i.tran_id,
                        },
                    )
                )
        rows.sort(key=lambda r: (r[0], r[1]["seq"]), reverse=True)  # newest first
        page = [r for t, r in rows if start <= t <= end][:limit]
        return self._ok({"category": market, "list": page, "nextPageCursor": ""})
