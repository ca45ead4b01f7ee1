"""A live account checked and set up before the first order, as the venue keeps it.

- **Position mode**: one-way only. A hedge-mode account (Binance ``dualSidePosition``, OKX ``long_short_mode``)
  refuses every one-way order (Binance -4061) and splits a position into two sides; start-up refuses it with the
  line to fix it, as Freqtrade does.
- **Key permissions**: keys that can withdraw are refused where the venue says (Binance ``apiRestrictions``,
  Bybit ``query-api``): a trading bot never needs them.
- **Margin mode** per perpetual as the settings say (cross by default); "already set" is success.
- **Leverage** per perpetual at the governor's cap (the venue's leverage bounds initial margin; the governor bounds
  the exposure); "not modified" is success, and a failure is logged and left to the order path.
- **Funds**: the account's equity as the venue reports it, read before trading; none is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import VenueError, VenueSetupError
from bot.logs import get_logger
from bot.venues.ccxt_orders import OrderVenue, ensure_leverage
from bot.venues.errors import classify
from bot.venues.gateway import Balance


class SetupVenue(OrderVenue, Protocol):
    """What setting an account up needs of a venue client (``CcxtGateway`` is one)."""

    async def call(self, what: str, fn: Any) -> Any: ...

    async def fetch_balance(self) -> Balance: ...


log = get_logger(__name__)

# a venue's answer to setting the margin mode a symbol already has (ccxt raises it as BadRequest or ExchangeError)
MARGIN_MODE_NOT_MODIFIED = ("-4046", "No need to change margin type", "110026", "not modified")


@dataclass(slots=True)
class SetupReport:
    venue: str
    hedge_mode: bool = False
    withdrawals: bool | None = None  # None: the venue does not say
    margin_modes: dict[str, str] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    equity: float | None = None
    problems: list[str] = field(default_factory=list)


async def prepare_account(
    gw: SetupVenue,
    perps: list[str],
    leverage: int,
    margin_modes: Mapping[str, str],
    check_funds: bool = True,
    apply: bool = True,
) -> SetupReport:
    """Check and set up the account for the perpetuals ``perps`` (instrument ids). Raises ``VenueSetupError`` for an
    account carrybot must not trade; everything else it could not set is in ``problems``. ``apply=False`` (shadow
    mode): the checks only, nothing changed at the venue."""
    rep = SetupReport(gw.venue)
    symbols = [gw.symbols[i] for i in perps]
    if symbols and gw.ex.has.get("fetchPositionMode"):
        mode = await gw.call("fetch_position_mode", lambda: gw.ex.fetch_position_mode(symbols[0]))
        rep.hedge_mode = bool(mode.get("hedged"))
        if rep.hedge_mode:
            raise VenueSetupError(
                gw.venue,
                "the account is in hedge position mode; carrybot trades one-way mode only (switch it in the venue's "
                "futures settings with no position open)",
            )
    rep.withdrawals = await _can_withdraw(gw)
    if rep.withdrawals:
        raise VenueSetupError(
            gw.venue, "the API key can withdraw funds; create a key with reading and trading permissions only"
        )
    for iid, symbol in zip(perps, symbols, strict=True) if apply else ():
        want = margin_modes.get(iid, margin_modes.get(gw.venue, "cross"))
        if gw.ex.has.get("setMarginMode") and gw.venue == "binance":  # unified accounts: set per account, not here
            problem = await _set_margin_mode(gw, symbol, want)
            if problem is None:
                rep.margin_modes[iid] = want
            else:
                rep.problems.append(problem)
        code = await ensure_leverage(gw, symbol, leverage)
        if code is None:
            rep.leverage[iid] = leverage
        else:
            rep.problems.append(f"leverage {leverage} on {symbol}: {code}")
    if check_funds:
        balance = await gw.fetch_balance()
        rep.equity = float(balance.equity)
        if balance.equity <= 0:
            raise VenueSetupError(gw.venue, "the account holds no funds to trade (equity 0 in USDT)")
    for p in rep.problems:
        log.warning("venue.setup_problem", venue=gw.venue, problem=p)
    log.info("venue.setup", venue=gw.venue, leverage=rep.leverage, margin_modes=rep.margin_modes, equity=rep.equity)
    return rep


async def _set_margin_mode(gw: SetupVenue, symbol: str, want: str) -> str | None:
    """None once ``symbol`` is in margin mode ``want`` ("no need to change" is success), else what went wrong."""
    try:
        await gw.ex.set_margin_mode(want, symbol)
    except Exception as exc:  # noqa: BLE001 - classified for the report
        if not any(mark in str(exc) for mark in MARGIN_MODE_NOT_MODIFIED):
            return f"margin mode {want} on {symbol}: {classify(exc)[1]}"
    return None


async def _can_withdraw(gw: SetupVenue) -> bool | None:
    """Whether the key can withdraw, where the venue says (None where it does not, or the read failed)."""
    try:
        if gw.venue == "binance":
            r: Any = await gw.call("api_restrictions", gw.ex.sapi_get_account_apirestrictions)
            return bool(r.get("enableWithdrawals"))
        if gw.venue == "bybit":
            r = await gw.call("query_api", gw.ex.private_get_v5_user_query_api)
            perms = ((r.get("result") or {}).get("permissions") or {}).get("Wallet") or []
            return any("Withdraw" in str(p) for p in perms)
    except VenueError as exc:
        log.warning("venue.permissions_unread", venue=gw.venue, code=exc.code)
    except Exception as exc:  # noqa: BLE001 - a method this ccxt version lacks: the venue cannot say
        log.warning("venue.permissions_unread", venue=gw.venue, code=classify(exc)[1])
    return None
