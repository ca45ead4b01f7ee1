"""Accounts as venues keep them (SPEC §4): wallets, margin modes, collateral, maintenance tiers and liquidation.

A venue account is either **split** — a spot wallet and a derivatives wallet (Binance's classic account: spot coins
are not collateral for USDⓈ-M perps, USDT moves between the wallets by transfer) — or **unified** — one wallet
whose spot coins count as collateral at a haircut (Bybit's Unified Trading Account, OKX's unified account). A perp
position is **cross** (it shares the margin account's balance) or **isolated** (it has its own posted margin, which
a transfer can top up).

This module is plain arithmetic on plain records (floats: the paper venue converts its exact Decimals), so the paper
venue, the governor's account view and the margin manager all compute liquidation the same way.

Liquidation, as the venues compute it (Binance's USDⓈ-M formula; m and the maintenance amount ``cum`` from the
leverage tier at the position's notional):

- isolated, margin M on |q| at entry E: long ``(|q|E − M − cum) / (|q|(1 − m))``, short
  ``(|q|E + M + cum) / (|q|(1 + m))``. With ``M = |q|E/L`` and cum 0 this is SPEC G2's ``P(1 − 1/L)/(1 − m)`` and
  ``P(1 + 1/L)/(1 + m)``.
- cross: the margin account is liquidated when its margin balance (USDT + collateral coins × haircut + the cross
  positions' unrealized PnL) falls to their maintenance margin. For a move of one base asset by a factor ``x`` (its
  spot and perps move together) both sides are linear in ``x``; the liquidation factor is their crossing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class AccountMode(StrEnum):
    SPLIT = "split"  # a spot wallet and a derivatives wallet
    UNIFIED = "unified"  # one wallet; spot coins are collateral


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class Wallet(StrEnum):
    SPOT = "spot"
    DERIVATIVES = "derivatives"
    UNIFIED = "unified"


def margin_wallet(mode: AccountMode) -> Wallet:
    """The wallet perps margin from."""
    return Wallet.UNIFIED if mode is AccountMode.UNIFIED else Wallet.DERIVATIVES


def spot_wallet(mode: AccountMode) -> Wallet:
    """The wallet spot trades settle in."""
    return Wallet.UNIFIED if mode is AccountMode.UNIFIED else Wallet.SPOT


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One leverage bracket: positions up to ``max_notional`` keep ``mmr`` of their notional, less ``cum``."""

    max_notional: float
    mmr: float
    cum: float = 0.0
    max_leverage: float = 125.0


def tier_for(tiers: Sequence[MarginTier], notional: float, fallback_mmr: float) -> MarginTier:
    """The bracket a position of ``notional`` falls in (the last one beyond the table; a flat rate without one)."""
    for t in tiers:
        if notional <= t.max_notional:
            return t
    return tiers[-1] if tiers else MarginTier(math.inf, fallback_mmr)


def maintenance_margin(tiers: Sequence[MarginTier], notional: float, fallback_mmr: float) -> float:
    t = tier_for(tiers, notional, fallback_mmr)
    return max(0.0, notional * t.mmr - t.cum)


def isolated_liquidation_price(entry: float, qty: float, margin: float, mmr: float, cum: float = 0.0) -> float:
    """The venue's liquidation price of one isolated linear position (``qty`` signed); 0 for a long that cannot be
    liquidated (margin covers it all)."""
    q = abs(qty)
    if q == 0:
        return math.nan
    if qty > 0:
        return max(0.0, (q * entry - margin - cum) / (q * (1 - mmr)))
    return (q * entry + margin + cum) / (q * (1 + mmr))


@dataclass(frozen=True, slots=True)
class PerpMargin:
    """A perp position as its margin account sees it."""

    instrument_id: str
    base: str
    qty: float  # signed
    entry: float
    mark: float
    mode: MarginMode
    leverage: float
    isolated_margin: float = 0.0  # posted margin (isolated only)
    tiers: tuple[MarginTier, ...] = ()
    fallback_mmr: float = 0.0

    @property
    def notional(self) -> float:
        return abs(self.qty) * self.mark

    @property
    def tier(self) -> MarginTier:
        return tier_for(self.tiers, self.notional, self.fallback_mmr)

    @property
    def upnl(self) -> float:
        return self.qty * (self.mark - self.entry)


class _LineTotals(NamedTuple):
    k_all: float  # cash, coins at their collateral value and every cross position's unrealized PnL
    u_all: float  # every cross position's maintenance margin
    coin_value: dict[str, float]  # per base: its coins' part of k_all
    own_upnl: dict[str, float]  # per base: its positions' part of k_all
    own_mm: dict[str, float]  # per base: its positions' part of u_all
    by_base: dict[str, list[PerpMargin]]


@dataclass(frozen=True, slots=True)
class MarginAccount:
    """The wallet perps margin from: its USDT, its collateral coins (valued at ``haircut``) and its positions."""

    venue: str
    mode: AccountMode
    cash: float  # USDT in the margin wallet (isolated margins already taken out)
    coins: Mapping[str, float] = field(default_factory=dict)  # base -> qty counted as collateral
    coin_marks: Mapping[str, float] = field(default_factory=dict)  # base -> spot mark
    haircut: float = 1.0  # share of a coin's value that counts (unified accounts)
    perps: tuple[PerpMargin, ...] = ()

    def cross(self) -> Iterable[PerpMargin]:
        return (p for p in self.perps if p.mode is MarginMode.CROSS)

    def collateral(self) -> float:
        return sum(self.haircut * q * self.coin_marks.get(b, 0.0) for b, q in self.coins.items() if q > 0)

    def margin_balance(self) -> float:
        """USDT + collateral + cross unrealized PnL (a borrowed coin, negative, counts at full value)."""
        owed = sum(q * self.coin_marks.get(b, 0.0) for b, q in self.coins.items() if q < 0)
        return self.cash + self.collateral() + owed + sum(p.upnl for p in self.cross())

    def maintenance(self) -> float:
        return sum(maintenance_margin(p.tiers, p.notional, p.fallback_mmr) for p in self.cross())

    def initial_margin(self) -> float:
        return sum(p.notional / p.leverage for p in self.cross())

    def free_margin(self) -> float:
        """What new positions may use."""
        return self.margin_balance() - self.initial_margin()

    def transferable(self) -> float:
        """USDT a transfer out of this wallet may move: its cash as far as the free margin goes (unrealized profit
        and coin collateral back positions; they are not USDT to move)."""
        return max(0.0, min(self.cash, self.free_margin()))

    def cross_line(self, base: str, at: float = 1.0) -> tuple[float, float]:
        """The margin account's health along a move of ``base`` by a factor ``x``, as ``(a, b)``: margin balance
        less maintenance is ``a + b·x`` (the other bases held where they are), with ``base``'s positions in the
        leverage tier of their notional at ``x = at``."""
        return self._line(self._totals(), base, at)

    def _totals(self) -> _LineTotals:
        """One pass over the coins and cross positions: the whole account's constant part and maintenance, and
        each base's own share of them (a base's line is then the totals less its share, plus its terms in ``x``:
        every base's liquidation costs O(its positions), not O(the account))."""
        k_all, u_all = self.cash, 0.0
        coin_value: dict[str, float] = {}
        for b, q in self.coins.items():
            value = q * self.coin_marks.get(b, 0.0) * (self.haircut if q > 0 else 1.0)
            coin_value[b] = coin_value.get(b, 0.0) + value
            k_all += value
        own_upnl: dict[str, float] = {}
        own_mm: dict[str, float] = {}
        by_base: dict[str, list[PerpMargin]] = {}
        for p in self.cross():
            mm = maintenance_margin(p.tiers, p.notional, p.fallback_mmr)
            k_all += p.upnl
            u_all += mm
            own_upnl[p.base] = own_upnl.get(p.base, 0.0) + p.upnl
            own_mm[p.base] = own_mm.get(p.base, 0.0) + mm
            by_base.setdefault(p.base, []).append(p)
        return _LineTotals(k_all, u_all, coin_value, own_upnl, own_mm, by_base)

    @staticmethod
    def _line(tot: _LineTotals, base: str, at: float) -> tuple[float, float]:
        coin = tot.coin_value.get(base, 0.0)
        k = tot.k_all - coin - tot.own_upnl.get(base, 0.0)
        u = tot.u_all - tot.own_mm.get(base, 0.0)
        s, t = coin, 0.0
        for p in tot.by_base.get(base, ()):
            tier = tier_for(p.tiers, p.notional * at, p.fallback_mmr)
            k -= p.qty * p.entry
            s += p.qty * p.mark
            t += p.notional * tier.mmr
            u -= tier.cum
        return k - u, s - t

    def liquidation_factor(self, base: str, totals: _LineTotals | None = None) -> float | None:
        """The factor ``x`` by which ``base``'s prices must move for the cross positions to be liquidated (``None``:
        no move of that base alone liquidates them). The maintenance tier is the one the positions reach at ``x``
        (found by iterating: the health line is linear inside a tier)."""
        tot = totals if totals is not None else self._totals()
        x = 1.0
        for _ in range(16):
            a, b = self._line(tot, base, x)
            if b == 0:
                return None
            nxt = -a / b
            if nxt <= 0 or not math.isfinite(nxt):
                return None
            if abs(nxt - x) <= 1e-12 * max(1.0, x):
                break
            x = nxt
        return x

    def liquidation_price(self, p: PerpMargin) -> float | None:
        """The venue's liquidation price of one of this account's positions."""
        if p.mode is MarginMode.ISOLATED:
            tier = p.tier
            return isolated_liquidation_price(p.entry, p.qty, p.isolated_margin, tier.mmr, tier.cum)
        x = self.liquidation_factor(p.base)
        return None if x is None else x * p.mark

    def liquidation_prices(self) -> dict[str, float]:
        """Every position's liquidation price: one pass for the account's totals, then each base on its own."""
        tot = self._totals()
        factors: dict[str, float | None] = {}
        out = {}
        for p in self.perps:
            if p.mode is MarginMode.ISOLATED:
                price = self.liquidation_price(p)
            else:
                if p.base not in factors:
                    factors[p.base] = self.liquidation_factor(p.base, tot)
                x = factors[p.base]
                price = None if x is None else x * p.mark
            if price is not None and price > 0:
                out[p.instrument_id] = price
        return out


def cash_for_distance(account: MarginAccount, p: PerpMargin, distance: float) -> float:
    """USDT to add (to the position's margin if isolated, to the margin wallet if cross) so that ``p``'s liquidation
    price sits ``distance`` (a fraction of its mark) away on its adverse side; 0 when it already does."""
    sign = -1.0 if p.qty > 0 else 1.0  # a long is liquidated below, a short above
    target = p.mark * (1 + sign * distance)
    if p.mode is MarginMode.ISOLATED:
        tier = p.tier
        q = abs(p.qty)
        if p.qty > 0:
            need = q * p.entry - tier.cum - target * q * (1 - tier.mmr)
        else:
            need = target * q * (1 + tier.mmr) - q * p.entry - tier.cum
        return max(0.0, need - p.isolated_margin)
    want = 1 + sign * distance
    a, b = account.cross_line(p.base, want)
    # cash raises ``a`` one for one; healthy at ``want`` needs a + Δ + b·want ≥ 0
    return max(0.0, -(a + b * want))


class AccountState:
    """What the governor and the margin manager read of one venue account each tick (its liquidation prices, free
    margin and idle capital are worked out once per state, on first read: a venue hands out the same state until
    its account or its marks change). Read-only by convention; the caches are explicit slots rather than
    ``functools.cached_property``, which a compiled build (mypyc) turns into a plain property that recomputes on
    every read."""

    __slots__ = ("margin", "spot_free", "equity", "_liq", "_free", "_idle")

    def __init__(self, margin: MarginAccount, spot_free: float, equity: float = math.nan) -> None:
        self.margin = margin
        self.spot_free = spot_free  # USDT the spot wallet can give up (split accounts; 0 for unified)
        self.equity = equity  # the venue account's equity (every wallet, coins at mark, positions' PnL)
        self._liq: dict[str, float] | None = None
        self._free: float | None = None
        self._idle: float | None = None

    def __repr__(self) -> str:
        return f"AccountState(margin={self.margin!r}, spot_free={self.spot_free!r}, equity={self.equity!r})"

    @property
    def liquidation_prices(self) -> dict[str, float]:
        if self._liq is None:
            self._liq = self.margin.liquidation_prices()
        return self._liq

    @property
    def free_margin(self) -> float:
        """The margin wallet's free margin (``MarginAccount.free_margin``)."""
        if self._free is None:
            self._free = self.margin.free_margin()
        return self._free

    @property
    def idle(self) -> float:
        """USDT no position needs and a new one could use: a split account's spot wallet cash plus its derivatives
        wallet's free margin; a unified account's cash as far as its free margin goes (its coins back the perps)."""
        if self._idle is None:
            free = max(0.0, self.free_margin)
            if self.margin.mode is AccountMode.SPLIT:
                self._idle = max(0.0, self.spot_free) + free
            else:
                self._idle = max(0.0, min(self.margin.cash, free))
        return self._idle
