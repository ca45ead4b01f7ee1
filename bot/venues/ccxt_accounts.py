"""A live venue account as ``bot.accounts`` models it, read through ccxt (SPEC §4: live equity, limits and
liquidation come from the venues' own balances). Binance's classic account is read: the spot wallet
(``fetch_balance`` type spot), the USDⓈ-M wallet (type future: its cross wallet balance) and the positions
(``fetch_positions``: margin type, posted isolated margin, leverage, entry and mark), with Binance's leverage tiers for
the maintenance margin — the model then gives the venue's own liquidation price (checked against the
``liquidationPrice`` Binance reports). Bybit's Unified Trading Account is read as one unified wallet: each coin's
wallet balance (less what is borrowed) valued at its ``usdValue``, collateral at the configured haircut, the
positions' cross or isolated margin, and each position's maintenance rate as Bybit states it (``positionMM`` over
``positionValue``). OKX's unified account likewise: each currency's cash balance valued at ``eqUsd``, collateral at
OKX's own discount (``disEq`` over ``eqUsd`` of the coins), positions in contracts × the contract size, their
maintenance rate as OKX states it (``mmr`` over ``notionalUsd``).

Pure parsing of ccxt's answers (their ``info`` carries the venue's fields): no I/O here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from bot.accounts import AccountMode, AccountState, MarginAccount, MarginMode, PerpMargin
from bot.domain import Instrument, Position
from bot.errors import VenueSetupError
from bot.venues.fees import BINANCE_TIERS

READABLE = ("binance", "bybit", "okx")  # venues whose account state the live gateway reads


class MalformedAccount(ValueError):
    """A venue answer that does not make a whole account (a field missing, not a number, or out of range): the
    gateway keeps the last state it read and counts the error; nothing acts on a half-read account."""


def _f(x: Any) -> float:
    """An optional amount: absent or empty is 0; anything else must be a finite number."""
    if x is None or x == "":
        return 0.0
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise MalformedAccount(f"not a number: {str(x)[:40]!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise MalformedAccount("not a finite number")
    return v


def _price(x: Any, what: str) -> float:
    """A price a held position must have: present and positive."""
    v = _f(x)
    if v <= 0:
        raise MalformedAccount(f"{what} missing or not positive")
    return v


def binance_account_state(
    spot: Mapping[str, Any],
    futures: Mapping[str, Any],
    positions: Sequence[Mapping[str, Any]],
    instruments: Mapping[str, Instrument],
    symbols: Mapping[str, str],
    quote: str = "USDT",
) -> AccountState:
    """``spot``/``futures``: ccxt ``fetch_balance`` answers; ``positions``: ``fetch_positions``; ``symbols``: instrument
    id -> ccxt symbol for the gateway's instruments."""
    by_symbol = {s: iid for iid, s in symbols.items()}
    info = futures.get("info") or {}
    cross_wallet = _f(info.get("totalCrossWalletBalance"))
    perps: list[PerpMargin] = []
    marks: dict[str, float] = {}
    for p in positions:
        raw = p.get("info") or {}
        iid = by_symbol.get(str(p.get("symbol")))
        qty = _f(raw.get("positionAmt"))
        if iid is None or qty == 0:
            continue
        inst = instruments[iid]
        mark = _price(raw.get("markPrice") or p.get("markPrice"), "markPrice")
        marks[inst.base] = mark
        isolated = str(raw.get("marginType", "")).lower() == "isolated" or raw.get("isolated") is True
        # isolatedMargin is the posted wallet plus its unrealized PnL; isolatedWallet (newer answers) the wallet
        wallet = (
            _f(raw.get("isolatedWallet"))
            if "isolatedWallet" in raw
            else (_f(raw.get("isolatedMargin")) - _f(raw.get("unRealizedProfit")))
        )
        perps.append(
            PerpMargin(
                iid,
                inst.base,
                qty,
                _price(raw.get("entryPrice"), "entryPrice"),
                mark,
                MarginMode.ISOLATED if isolated else MarginMode.CROSS,
                max(1.0, _f(raw.get("leverage")) or 1.0),
                wallet if isolated else 0.0,
                BINANCE_TIERS.get(inst.base, ()),
                float(inst.maintenance_margin_rate),
            )
        )
    spot_usdt = spot.get(quote) or {}
    coins = sum(
        _f((spot.get(base) or {}).get("total")) * mark for base, mark in marks.items()
    )  # spot coins of the bases held, at the perp's mark
    equity = _f(spot_usdt.get("total")) + coins + _f(info.get("totalMarginBalance"))
    account = MarginAccount("binance", AccountMode.SPLIT, cross_wallet, {}, {}, 1.0, tuple(perps))
    return AccountState(account, _f(spot_usdt.get("free")), equity)


def _ours(
    positions: Sequence[Mapping[str, Any]], instruments: Mapping[str, Instrument], symbols: Mapping[str, str]
) -> Iterator[tuple[str, Instrument, Mapping[str, Any]]]:
    """The positions on the gateway's instruments: (instrument id, instrument, the venue's own fields)."""
    by_symbol = {s: iid for iid, s in symbols.items()}
    for p in positions:
        iid = by_symbol.get(str(p.get("symbol")))
        if iid is not None:
            yield iid, instruments[iid], p.get("info") or {}


class _Names(NamedTuple):
    """A venue's field names for a position it states its own maintenance margin for."""

    entry: str
    mark: str
    leverage: str
    margin: str  # posted isolated margin
    maintenance: str  # maintenance margin, USD


_BYBIT = _Names("avgPrice", "markPrice", "leverage", "positionBalance", "positionMM")
_OKX = _Names("avgPx", "markPx", "lever", "margin", "mmr")


def _stated_perp(
    iid: str, inst: Instrument, qty: float, raw: Mapping[str, Any], isolated: bool, notional: float, names: _Names
) -> PerpMargin:
    """A position whose maintenance rate is the venue's own (its maintenance margin over its notional)."""
    mm = _f(raw.get(names.maintenance))
    return PerpMargin(
        iid,
        inst.base,
        qty,
        _price(raw.get(names.entry), names.entry),
        _price(raw.get(names.mark), names.mark),
        MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        max(1.0, _f(raw.get(names.leverage)) or 1.0),
        _f(raw.get(names.margin)) if isolated else 0.0,
        (),
        mm / notional if notional > 0 else float(inst.maintenance_margin_rate),
    )


def bybit_account_state(
    balance: Mapping[str, Any],
    positions: Sequence[Mapping[str, Any]],
    instruments: Mapping[str, Instrument],
    symbols: Mapping[str, str],
    haircut: float,
    quote: str = "USDT",
) -> AccountState:
    """``balance``: ccxt ``fetch_balance`` of the Unified Trading Account; ``positions``: ``fetch_positions``."""
    rows = (((balance.get("info") or {}).get("result") or {}).get("list")) or [{}]
    acct = rows[0]
    cash = 0.0
    coins: dict[str, float] = {}
    marks: dict[str, float] = {}
    for c in acct.get("coin") or []:
        name = str(c.get("coin"))
        qty = _f(c.get("walletBalance")) - _f(c.get("borrowAmount"))
        if name == quote:
            cash = qty
        elif qty:
            coins[name] = qty
            usd = _f(c.get("usdValue"))
            if usd and qty:
                marks[name] = abs(usd / qty)
    perps: list[PerpMargin] = []
    for iid, inst, raw in _ours(positions, instruments, symbols):
        size = _f(raw.get("size"))
        if size == 0:
            continue
        qty = size if str(raw.get("side")) == "Buy" else -size
        isolated = str(raw.get("tradeMode")) == "1"
        value = _f(raw.get("positionValue"))
        perps.append(_stated_perp(iid, inst, qty, raw, isolated, value, _BYBIT))
    account = MarginAccount("bybit", AccountMode.UNIFIED, cash, coins, marks, haircut, tuple(perps))
    return AccountState(account, 0.0, _f(acct.get("totalEquity")))


def okx_account_state(
    balance: Mapping[str, Any],
    positions: Sequence[Mapping[str, Any]],
    instruments: Mapping[str, Instrument],
    symbols: Mapping[str, str],
    haircut: float,
    quote: str = "USDT",
) -> AccountState:
    """``balance``: ccxt ``fetch_balance`` of the trading (unified) account; ``positions``: ``fetch_positions``."""
    rows = (balance.get("info") or {}).get("data") or [{}]
    acct = rows[0]
    cash = 0.0
    coins: dict[str, float] = {}
    marks: dict[str, float] = {}
    usd = discounted = 0.0
    for d in acct.get("details") or []:
        ccy = str(d.get("ccy"))
        qty = _f(d.get("cashBal")) - _f(d.get("liab"))
        if ccy == quote:
            cash = qty
            continue
        eq, eq_usd = _f(d.get("eq")), _f(d.get("eqUsd"))
        if qty and eq:
            coins[ccy] = qty
            marks[ccy] = abs(eq_usd / eq)
            usd += eq_usd
            discounted += _f(d.get("disEq"))
    cut = discounted / usd if usd > 0 and discounted > 0 else haircut  # OKX's own discount on the coins held
    perps: list[PerpMargin] = []
    for iid, inst, raw in _ours(positions, instruments, symbols):
        contracts = _f(raw.get("pos"))
        if contracts == 0:
            continue
        qty = contracts * float(inst.contract_size)
        if str(raw.get("posSide")) == "short":
            qty = -abs(qty)
        notional = _f(raw.get("notionalUsd"))
        isolated = str(raw.get("mgnMode")) == "isolated"
        perps.append(_stated_perp(iid, inst, qty, raw, isolated, notional, _OKX))
    account = MarginAccount("okx", AccountMode.UNIFIED, cash, coins, marks, cut, tuple(perps))
    return AccountState(account, 0.0, _f(acct.get("totalEq")))


def positions_from(
    venue: str,
    rows: Sequence[Mapping[str, Any]],
    instruments: Mapping[str, Instrument],
    symbols: Mapping[str, str],
) -> dict[str, Position]:
    """ccxt ``fetch_positions`` rows as net positions in base units, signed from the venue's own field where it states
    one (Binance ``positionAmt``) — ccxt's ``side`` is read from a ``notional`` older answers lack. A position held on a
    hedge-mode side (LONG/SHORT, Bybit positionIdx 1/2, OKX posSide long/short) is refused: carrybot trades one-way."""
    by_symbol = {s: iid for iid, s in symbols.items()}
    out: dict[str, Position] = {}
    for p in rows:
        iid = by_symbol.get(str(p.get("symbol")))
        if iid is None:
            continue
        inst, raw = instruments[iid], p.get("info") or {}
        contracts = _f(p.get("contracts"))
        if "positionAmt" in raw:
            contracts = _f(raw["positionAmt"])
        elif p.get("side") == "short":
            contracts = -abs(contracts)
        if contracts == 0:
            continue
        side = str(raw.get("positionSide") or raw.get("posSide") or "").upper()
        if side in ("LONG", "SHORT") or str(raw.get("positionIdx", "0")) in ("1", "2") or p.get("hedged"):
            raise VenueSetupError(
                venue,
                f"the account holds hedge-mode positions on {p.get('symbol')}: carrybot trades one-way position mode "
                "only (close them and switch the account to one-way mode)",
            )
        qty = Decimal(str(contracts)) * (inst.contract_size if not inst.inverse else 1)
        entry = Decimal(str(p.get("entryPrice") or raw.get("entryPrice") or 0))
        out[iid] = Position(iid, qty, entry)
    return out
