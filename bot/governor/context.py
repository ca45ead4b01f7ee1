"""What a rule sees: the intent's legs priced once, the account, and the tick's precomputed market reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from bot.accounts import AccountState
from bot.decisions import HedgeGap, RuleHit, RuleId
from bot.domain import Instrument, MarketSnapshot, OrderIntent
from bot.governor.calendar import ExpiryPhase
from bot.governor.signals import Signals


@dataclass(slots=True)  # a value built once per tick and never assigned to (not frozen: see MarketSnapshot)
class AccountView:
    """The bot's own view of its account, refreshed every tick (floats: limits need no exact money)."""

    equity: float
    positions: Mapping[str, float]  # signed quantity per instrument id
    gross_by_venue: Mapping[str, float]  # Σ |qty × mark| per venue
    gross_total: float
    open_orders: int = 0
    liq_prices: Mapping[str, float] = field(default_factory=dict)  # derivative legs' liquidation prices
    net_by_venue: Mapping[str, float] = field(default_factory=dict)  # Σ qty × mark (delta) per venue
    net_total: float = 0.0
    net_by_base: Mapping[str, float] = field(default_factory=dict)
    gross_by_base: Mapping[str, float] = field(default_factory=dict)
    hedge_gaps: Mapping[str, HedgeGap] = field(default_factory=dict)  # per base: a lead leg awaiting its hedge
    store_ok: bool = True  # the store can write orders ahead (entries fail closed when it cannot)
    accounts: Mapping[str, AccountState] = field(default_factory=dict)  # the venues' own accounts, where known


class LeverageCap(NamedTuple):
    """G1's answer for one instrument at one tick."""

    max_leverage: float
    realized_vol: float | None
    halved: bool
    funding_factor: float


class CrowdingRead(NamedTuple):
    """G5's checklist for one instrument: cautions fired, signals unavailable, and the reduce condition."""

    cautions: tuple[str, ...]
    unavailable: tuple[str, ...]
    reduce: bool

    @property
    def n_fired(self) -> int:
        return len(self.cautions)


class TickReads:
    """Per-tick, lazily computed market reads (signals, leverage caps, crowding, expiry phase), cached per tick."""

    __slots__ = (
        "now_ns",
        "signal",
        "short_vol",
        "phase",
        "front_month_oi_share",
        "_lev",
        "_crowd",
        "_lev_fn",
        "_crowd_fn",
    )

    def __init__(
        self,
        now_ns: int,
        signal: Callable[[str], Signals | None],
        short_vol: Callable[[str], float | None],
        phase: ExpiryPhase,
        lev_fn: Callable[[str], LeverageCap],  # an instrument's G1 cap (from its volatility and funding alone)
        crowd_fn: Callable[[Signals | None], CrowdingRead],
        front_month_oi_share: float | None = None,
    ) -> None:
        self.now_ns = now_ns
        self.signal = signal
        self.short_vol = short_vol
        self.phase = phase
        self.front_month_oi_share = front_month_oi_share
        self._lev: dict[str, LeverageCap] = {}
        self._crowd: dict[str, CrowdingRead] = {}
        self._lev_fn = lev_fn
        self._crowd_fn = crowd_fn

    def leverage(self, iid: str) -> LeverageCap:
        cap = self._lev.get(iid)
        if cap is None:
            cap = self._lev[iid] = self._lev_fn(iid)
        return cap

    def crowding(self, iid: str) -> CrowdingRead:
        read = self._crowd.get(iid)
        if read is None:
            read = self._crowd[iid] = self._crowd_fn(self.signal(iid))
        return read


class PricedLeg(NamedTuple):
    """One leg as the rules see it. A NamedTuple: immutable like a frozen dataclass, but built several times per
    decision, where a frozen dataclass's ``object.__setattr__`` per field is measurable."""

    instrument: Instrument
    snapshot: MarketSnapshot
    signed_qty: float
    notional: float  # |qty| × mark
    increases: bool  # grows |position| on its instrument


class CheckContext(NamedTuple):
    """Everything one rule evaluation sees (a NamedTuple for the same reason as ``PricedLeg``)."""

    intent: OrderIntent
    legs: tuple[PricedLeg, ...]
    account: AccountView
    now_ns: int
    added_gross_by_venue: Mapping[str, float]  # gross exposure this intent would add, per venue
    added_gross_total: float
    tick: TickReads
    recent_orders: int  # orders approved in the last minute


class Rule(Protocol):
    """A rule family: given its data, return nothing (allow) or a hit (resize or deny)."""

    rule_id: RuleId
    relative: bool  # its resize is a share of the intent (applied once), not a cap (re-checked after rounding)

    def check(self, ctx: CheckContext) -> RuleHit | None: ...
