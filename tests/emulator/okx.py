"""OKX v5, unified trading account (``www.okx.com/api/v5``), spot and USDT perpetual swaps as ccxt calls them, over an
``Account`` whose spot and swap markets trade from one wallet: requests are signed (HMAC-SHA256 of timestamp, method,
path and body, base64, with the passphrase) and checked; answers carry OKX's envelope (``code``/``msg``/``data``,
HTTP 200 for refusals, ``sCode``/``sMsg`` per order) and its own error codes.

Documented rules modelled (OKX v5 API docs, 2024–2026):
- Swaps trade in contracts: ``BTC-USDT-SWAP`` is 0.01 BTC a contract (``ctVal``); positions, fills and orders count
  contracts. Net position mode (``posSide`` ``net``); long/short mode (``account/config`` ``posMode``) needs
  ``posSide`` long or short on every swap order (51000).
- A spot market buy counts ``sz`` in the quote currency unless ``tgtCcy=base_ccy``; a spot buy's fee is taken in
  the coin bought. Fees are stated negative when charged.
- A ``post_only`` order that would take is accepted and then cancelled by the venue; ``reduceOnly`` must reduce
  (51169).
- Funding is a bill of type 8 (``balChg`` what the account received: positive received, negative paid), newest
  first, 100 at most a page; fills (``trade/fills-history``) newest first, 100 at most; orders history likewise.
- New orders are unknown to lookups for ``Account.lookup_delay_ms`` (51603 "Order does not exist").

The recorded instruments hold no BTC-USDT spot pair: it is made from the recorded BTC-USD one (same lot, minimum and
tick), with USDT as its quote currency."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.emulator.server import Signed
from tests.emulator.venue import ZERO, Account, EmuOrder, Market, Rules, VenueReject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "okx"
V5 = "/www.okx.com/api/v5"
_STATE = {
    "new": "live",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "rejected": "canceled",
}
# the emulator's venue-neutral refusals (Binance's codes) as OKX words them
_CODES: dict[int | str, tuple[str, str]] = {
    -1121: ("51001", "Instrument ID does not exist"),
    -4015: ("51016", "Duplicated clOrdId"),
    -1013: ("51121", "Order quantity must be a multiple of the lot size"),
    -2010: ("51008", "Order failed. Insufficient USDT balance in account"),
    -2019: ("51008", "Order failed. Insufficient USDT margin in account"),
    -2022: ("51169", "Order failed because you don't have any positions in this direction for this contract to reduce"),
    -2011: ("51400", "Order cancellation failed as the order has been filled, canceled or does not exist"),
    -4061: ("51000", "Parameter posSide error"),
}


def _instruments() -> dict[str, list[dict[str, Any]]]:
    spot = json.loads((FIXTURES / "http_get_instruments_spot.json").read_text())["data"]
    usd = next(i for i in spot if i["instId"] == "BTC-USD")
    usdt = copy.deepcopy(usd) | {"instId": "BTC-USDT", "quoteCcy": "USDT"}
    swap = json.loads((FIXTURES / "http_get_instruments_swap.json").read_text())["data"]
    return {"SPOT": [usdt], "SWAP": [s for s in swap if s["settleCcy"] == "USDT"]}


def rules_from_fixtures() -> dict[tuple[Market, str], Rules]:
    out: dict[tuple[Market, str], Rules] = {}
    for kind, rows in _instruments().items():
        market: Market = "spot" if kind == "SPOT" else "linear"
        for i in rows:
            base, quote = (i["baseCcy"], i["quoteCcy"]) if kind == "SPOT" else tuple(i["instFamily"].split("-"))
            out[(market, i["instId"])] = Rules(
                i["instId"],
                market,
                base,
                quote,
                Decimal(i["lotSz"]).normalize(),
                Decimal(i["minSz"]).normalize(),
                Decimal(i["tickSz"]).normalize(),
                Decimal(0),
                Decimal(i["ctVal"]) if kind == "SWAP" else Decimal(1),
            )
    return out


def okx_account(usdt: str = "200000") -> Account:
    """A unified (single-currency margin) account holding ``usdt``, with OKX's regular fees (spot 0.1% taker, 0.08%
    maker; swaps 0.05% taker, 0.02% maker)."""
    return Account(
        rules_from_fixtures(),
        {"trading": {"USDT": Decimal(usdt)}},
        taker_fee=Decimal("0.0005"),
        maker_fee=Decimal("0.0002"),
        spot_taker_fee=Decimal("0.001"),
        spot_maker_fee=Decimal("0.0008"),
        wallet_of={"spot": "trading", "linear": "trading"},
    )


class OkxDialect:
    """Routes of one OKX unified account. ``api_key``/``secret``/``passphrase``: what ccxt must sign with."""

    venue = "okx"
    reject_status = 200

    def __init__(self, account: Account, api_key: str, secret: str, passphrase: str) -> None:
        self.acct = account
        self.api_key, self.secret, self.passphrase = api_key, secret, passphrase
        self.pos_mode = "net_mode"
        self.funding_rate: dict[str, Decimal] = {}
        self.next_funding_ms: dict[str, int] = {}
        self.frozen = False
        self.request = Signed("", {}, "")

    # --- plumbing -------------------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str]], Any]]:
        r: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", f"{V5}/public/instruments"): self.instruments,
            ("GET", f"{V5}/public/underlying"): lambda q: self._ok([]),
            ("GET", f"{V5}/market/tickers"): self.tickers,
            ("GET", f"{V5}/market/ticker"): self.tickers,
            ("GET", f"{V5}/public/funding-rate"): self.funding_now,
            ("GET", f"{V5}/public/funding-rate-history"): self.funding_rate_history,
            ("GET", f"{V5}/public/time"): lambda q: self._ok([{"ts": str(self.acct.now_ms())}]),
            ("GET", f"{V5}/public/open-interest"): lambda q: self._ok(
                [
                    {"instType": "SWAP", "instId": s, "oi": "5000000", "oiCcy": "50000", "ts": str(self.acct.now_ms())}
                    for (m, s) in self.acct.prices
                    if m == "linear" and q.get("instId", s) == s
                ]
            ),
        }
        signed: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
            ("GET", f"{V5}/account/config"): self.config,
            ("GET", f"{V5}/account/balance"): self.balance,
            ("GET", f"{V5}/account/positions"): self.positions,
            ("POST", f"{V5}/account/set-leverage"): self.set_leverage,
            ("GET", f"{V5}/account/bills"): self.bills,
            ("GET", f"{V5}/account/bills-archive"): self.bills,
            ("POST", f"{V5}/trade/batch-orders"): self.place,
            ("POST", f"{V5}/trade/order"): self.place,
            ("GET", f"{V5}/trade/order"): self.get_order,
            ("POST", f"{V5}/trade/cancel-order"): self.cancel,
            ("POST", f"{V5}/trade/cancel-batch-orders"): self.cancel,
            ("GET", f"{V5}/trade/orders-pending"): lambda q: self._orders(q, open_=True),
            ("GET", f"{V5}/trade/orders-history"): lambda q: self._orders(q, open_=False),
            ("GET", f"{V5}/trade/orders-history-archive"): lambda q: self._orders(q, open_=False),
            ("GET", f"{V5}/trade/fills"): self.fills,
            ("GET", f"{V5}/trade/fills-history"): self.fills,
        }
        for key, fn in signed.items():
            r[key] = self._signed(fn)
        return r

    def _signed(self, fn: Callable[[dict[str, str]], Any]) -> Callable[[dict[str, str]], Any]:
        def check(q: dict[str, str]) -> Any:
            req, h = self.request, self.request.headers
            if h.get("OK-ACCESS-KEY") != self.api_key:
                raise VenueReject("50111", "Invalid OK-ACCESS-KEY.")
            if h.get("OK-ACCESS-PASSPHRASE") != self.passphrase:
                raise VenueReject("50105", "Invalid OK-ACCESS-PASSPHRASE.")
            path = req.path + ("?" + req.query if req.method == "GET" and req.query else "")
            payload = h.get("OK-ACCESS-TIMESTAMP", "") + req.method + path + (req.body if req.method != "GET" else "")
            good = base64.b64encode(hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(good, h.get("OK-ACCESS-SIGN", "")):
                raise VenueReject("50113", "Invalid Sign.")
            return fn(q)

        return check

    def _ok(self, data: list[Any]) -> dict[str, Any]:
        return {"code": "0", "msg": "", "data": data}

    def reject_body(self, exc: VenueReject) -> dict[str, Any]:
        return {"code": str(exc.code), "msg": exc.msg, "data": []}

    def _refuse(self, exc: VenueReject) -> tuple[str, str]:
        return _CODES.get(exc.code, (str(exc.code), exc.msg))

    def _market(self, inst_id: str) -> Market:
        return "linear" if inst_id.endswith("-SWAP") else "spot"

    # --- market data ----------------------------------------------------------------------------------------------
    def instruments(self, q: dict[str, str]) -> Any:
        return self._ok(_instruments().get(q.get("instType", ""), []))

    def tickers(self, q: dict[str, str]) -> Any:
        rows = []
        for (m, s), p in self.acct.prices.items():
            kind = "SWAP" if m == "linear" else "SPOT"
            if q.get("instType", kind) != kind or q.get("instId", s) != s:
                continue
            bid, ask = self.acct.touch(m, s)
            now = str(self.acct.now_ms())
            rows.append(
                {
                    "instType": kind,
                    "instId": s,
                    "last": str(p),
                    "lastSz": "1",
                    "askPx": str(ask),
                    "askSz": "50",
                    "bidPx": str(bid),
                    "bidSz": "50",
                    "open24h": str(p),
                    "high24h": str(p),
                    "low24h": str(p),
                    "volCcy24h": "1000",
                    "vol24h": "100000",
                    "sodUtc0": str(p),
                    "sodUtc8": str(p),
                    "ts": now,
                }
            )
        return self._ok(rows)

    def _next_settlement(self, inst_id: str) -> int:
        every = 8 * 3_600_000
        return self.next_funding_ms.get(inst_id, (self.acct.now_ms() // every + 1) * every)

    def funding_now(self, q: dict[str, str]) -> Any:
        s = q["instId"]
        nxt = self._next_settlement(s)
        return self._ok(
            [
                {
                    "instType": "SWAP",
                    "instId": s,
                    "fundingRate": str(self.funding_rate.get(s, Decimal("0.0001"))),
                    "nextFundingRate": "",
                    "fundingTime": str(nxt),
                    "nextFundingTime": str(nxt + 8 * 3_600_000),
                    "method": "current_period",
                    "ts": str(self.acct.now_ms()),
                }
            ]
        )

    def funding_rate_history(self, q: dict[str, str]) -> Any:
        rows = sorted(
            {(i.time_ms, i.symbol, i.rate) for i in self.acct.income if i.kind == "FUNDING_FEE"}, reverse=True
        )
        before, after = int(q.get("before", 0)), int(q.get("after", 2**62))
        out = [
            {
                "instType": "SWAP",
                "instId": s,
                "fundingRate": str(r),
                "realizedRate": str(r),
                "fundingTime": str(t),
                "method": "current_period",
            }
            for t, s, r in rows
            if s == q.get("instId", s) and before < t < after
        ][: min(int(q.get("limit", 100)), 100)]
        return self._ok(out)

    # --- account --------------------------------------------------------------------------------------------------
    def config(self, q: dict[str, str]) -> Any:
        return self._ok([{"uid": "1", "acctLv": "2", "posMode": self.pos_mode, "autoLoan": False, "level": "Lv1"}])

    def balance(self, q: dict[str, str]) -> Any:
        wallet = self.acct.wallets.get("trading", {})
        upnl = sum((self.acct.unrealized(s, side) for (s, side) in self.acct.positions), ZERO)
        details, total = [], ZERO
        for coin, qty in sorted(wallet.items()):
            px = Decimal(1) if coin == "USDT" else self.acct.prices.get(("spot", f"{coin}-USDT"), ZERO)
            eq = qty + (upnl if coin == "USDT" else ZERO)
            total += eq * px
            details.append(
                {
                    "ccy": coin,
                    "eq": str(eq),
                    "cashBal": str(qty),
                    "availBal": str(qty),
                    "availEq": str(eq),
                    "disEq": str(eq * px),
                    "eqUsd": str(eq * px),
                    "frozenBal": "0",
                    "ordFrozen": "0",
                    "upl": str(upnl if coin == "USDT" else ZERO),
                    "liab": "0",
                    "crossLiab": "0",
                    "uTime": str(self.acct.now_ms()),
                }
            )
        return self._ok([{"totalEq": str(total), "adjEq": str(total), "details": details, "uTime": "0"}])

    def positions(self, q: dict[str, str]) -> Any:
        rows = []
        for (s, side), pos in self.acct.positions.items():
            if pos.qty == 0 or q.get("instId", s) != s:
                continue
            rules = self.acct.rules[("linear", s)]
            mark = self.acct.price("linear", s)
            notional = abs(pos.qty) * rules.contract_size * mark
            lev = self.acct.leverage.get(s, 10)
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": s,
                    "mgnMode": self.acct.margin_mode.get(s, "cross"),
                    "posSide": "net" if side == "BOTH" else side.lower(),
                    "pos": str(pos.qty),
                    "posCcy": "",
                    "ccy": "USDT",
                    "avgPx": str(pos.entry),
                    "markPx": str(mark),
                    "lever": str(lev),
                    "notionalUsd": str(notional),
                    "imr": str(notional / lev),
                    "mmr": str(notional * Decimal("0.004")),
                    "margin": "",
                    "upl": str(self.acct.unrealized(s, side)),
                    "liqPx": "",
                    "cTime": "1700000000000",
                    "uTime": str(self.acct.now_ms()),
                }
            )
        return self._ok(rows)

    def set_leverage(self, q: dict[str, str]) -> Any:
        self.acct.leverage[q["instId"]] = int(Decimal(q["lever"]))
        self.acct.margin_mode[q["instId"]] = q.get("mgnMode", "cross")
        return self._ok([{"instId": q["instId"], "lever": q["lever"], "mgnMode": q.get("mgnMode"), "posSide": ""}])

    # --- orders ---------------------------------------------------------------------------------------------------
    def place(self, q: dict[str, str]) -> Any:
        inst = q["instId"]
        market = self._market(inst)
        self.acct.submissions.append({"market": market, "newClientOrderId": q.get("clOrdId", ""), **q})
        side, ord_type = q["side"], q["ordType"]
        is_market = ord_type in ("market", "optimal_limit_ioc")
        qty = Decimal(q["sz"])
        price = None if is_market else Decimal(q["px"])
        if market == "spot" and is_market and side == "buy" and q.get("tgtCcy", "quote_ccy") != "base_ccy":
            rules = self.acct.rules[("spot", inst)]
            _bid, ask = self.acct.touch("spot", inst)
            qty = (qty / ask // rules.qty_step) * rules.qty_step  # sz was quote currency: what it buys at the ask
        pos_side = q.get("posSide", "net")
        if market == "linear" and (pos_side == "net") != (self.pos_mode == "net_mode"):
            code, msg = _CODES[-4061]
            return self._order_refused(q, code, msg)
        try:
            o = self.acct.place(
                market,
                inst,
                side,
                "market" if is_market else "limit",
                qty,
                price,
                q.get("clOrdId") or f"x{len(self.acct.orders)}",
                post_only=ord_type == "post_only",
                reduce_only=market == "linear" and q.get("reduceOnly", "false").lower() == "true",
            )
        except VenueReject as exc:
            if exc.code != -5022:
                code, msg = self._refuse(exc)
                return self._order_refused(q, code, msg)
            # a post-only order that would take is accepted, then cancelled by the venue
            cid = q.get("clOrdId") or f"x{len(self.acct.orders)}"
            o = self.acct.accept_cancelled(market, inst, side, qty, price, cid, "post_only would have taken")
        return self._ok([{"ordId": str(o.order_id), "clOrdId": o.client_id, "tag": "", "sCode": "0", "sMsg": ""}])

    def _order_refused(self, q: dict[str, str], code: str, msg: str) -> dict[str, Any]:
        item = {"ordId": "", "clOrdId": q.get("clOrdId", ""), "tag": "", "sCode": code, "sMsg": msg}
        return {"code": "1", "msg": "All operations failed", "data": [item]}

    def _find(self, q: dict[str, str], visible_only: bool = True) -> EmuOrder:
        o = self.acct.find(q.get("instId"), q.get("clOrdId"), int(q["ordId"]) if q.get("ordId") else None, visible_only)
        if o is None:
            raise VenueReject("51603", "Order does not exist")
        return o

    def get_order(self, q: dict[str, str]) -> Any:
        return self._ok([self._order(self._find(q))])

    def cancel(self, q: dict[str, str]) -> Any:
        try:
            o = self.acct.cancel(q["instId"], q.get("clOrdId"), int(q["ordId"]) if q.get("ordId") else None)
        except VenueReject as exc:
            code, msg = self._refuse(exc)
            item = {"ordId": q.get("ordId", ""), "clOrdId": q.get("clOrdId", ""), "sCode": code, "sMsg": msg}
            return {"code": "1", "msg": "All operations failed", "data": [item]}
        return self._ok([{"ordId": str(o.order_id), "clOrdId": o.client_id, "sCode": "0", "sMsg": ""}])

    def _orders(self, q: dict[str, str], open_: bool) -> Any:
        kind = q.get("instType")
        cutoff = self.acct.now_ms() - self.acct.lookup_delay_ms
        begin, end = int(q.get("begin", 0)), int(q.get("end", 2**62))
        rows = [
            o
            for o in reversed(self.acct.orders)  # newest first
            if o.open == open_
            and o.created_ms <= cutoff
            and q.get("instId", o.symbol) == o.symbol
            and (kind is None or kind == ("SWAP" if o.market == "linear" else "SPOT"))
            and begin <= o.created_ms <= end
        ][: min(int(q.get("limit", 100)), 100)]
        return self._ok([self._order(o) for o in rows])

    def _order(self, o: EmuOrder) -> dict[str, Any]:
        return {
            "instType": "SWAP" if o.market == "linear" else "SPOT",
            "instId": o.symbol,
            "ordId": str(o.order_id),
            "clOrdId": o.client_id,
            "px": str(o.price) if o.price is not None else "",
            "sz": str(o.qty),
            "ordType": "market" if o.type == "market" else "post_only" if o.post_only else "limit",
            "side": o.side,
            "posSide": "net" if o.market == "linear" else "",
            "tdMode": "cross" if o.market == "linear" else "cash",
            "accFillSz": str(o.filled),
            "fillPx": "",
            "avgPx": str(o.avg_price) if o.filled else "",
            "state": _STATE[o.status],
            "lever": "",
            "fee": "0",
            "feeCcy": "USDT",
            "reduceOnly": "true" if o.reduce_only else "false",
            "tgtCcy": "",
            "cTime": str(o.created_ms),
            "uTime": str(o.updated_ms),
        }

    # --- fills and bills ------------------------------------------------------------------------------------------
    def fills(self, q: dict[str, str]) -> Any:
        kind = q.get("instType")
        begin, end = int(q.get("begin", 0)), int(q.get("end", 2**62))
        rows = []
        for t in reversed(self.acct.trades):  # newest first
            if q.get("instId", t.symbol) != t.symbol or not (begin <= t.time_ms <= end):
                continue
            if kind is not None and kind != ("SWAP" if t.market == "linear" else "SPOT"):
                continue
            rows.append(
                {
                    "instType": "SWAP" if t.market == "linear" else "SPOT",
                    "instId": t.symbol,
                    "tradeId": str(t.trade_id),
                    "ordId": str(t.order_id),
                    "clOrdId": t.client_id,
                    "billId": str(t.trade_id),
                    "fillPx": str(t.price),
                    "fillSz": str(t.qty),
                    "side": t.side,
                    "posSide": "net" if t.market == "linear" else "",
                    "execType": "M" if t.maker else "T",
                    "feeCcy": t.fee_asset,
                    "fee": str(-t.fee),  # OKX states a charged fee as negative
                    "ts": str(t.time_ms),
                    "fillTime": str(t.time_ms),
                }
            )
        return self._ok(rows[: min(int(q.get("limit", 100)), 100)])

    def bills(self, q: dict[str, str]) -> Any:
        if q.get("type") not in (None, "8"):
            return self._ok([])
        begin, end = int(q.get("begin", 0)), int(q.get("end", 2**62))
        rows = []
        for i in reversed(self.acct.income):  # newest first
            if i.kind != "FUNDING_FEE" or q.get("instId", i.symbol) != i.symbol or not (begin <= i.time_ms <= end):
                continue
            rows.append(
                {
                    "billId": str(i.tran_id),
                    "instType": "SWAP",
                    "instId": i.symbol,
                    "ccy": i.asset,
                    "type": "8",
                    "subType": "174" if i.amount >= 0 else "173",
                    "balChg": str(i.amount),
                    "bal": str(self.acct.wallets["trading"].get("USDT", ZERO)),
                    "sz": str(abs(i.position_qty)),
                    "px": str(i.mark),
                    "pnl": "0",
                    "fee": "0",
                    "mgnMode": "cross",
                    "ts": str(i.time_ms),
                }
            )
        return self._ok(rows[: min(int(q.get("limit", 100)), 100)])
