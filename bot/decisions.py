"""What the governor answers and records: decisions, rule hits, state transitions, ladder events (plain data).

Kept apart from ``bot.domain`` (market and order data) so each stays a small room; both are frozen, typed records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain import Inputs, Order, OrderIntent, Side, Transfer, TransferIntent


class TradingState(StrEnum):
    """G8: ACTIVE allows all; REDUCING only risk-reducing orders; HALTED only governor/operator flatten orders."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RuleId(StrEnum):
    """The governor's rule families (SPEC G1–G9); a hit, a transition or a governor intent names one."""

    G1 = "G1"  # volatility-scaled leverage
    G2 = "G2"  # margin buffer and liquidation distance
    G3 = "G3"  # trim / hedge / de-risk ladders
    G4 = "G4"  # expiry-week blackouts
    G5 = "G5"  # crowding
    G6 = "G6"  # market and venue hygiene: staleness, collars, spreads, venue health, store
    G7 = "G7"  # hard limits: size, exposure, drawdown, daily loss, order rate
    G8 = "G8"  # trading state gates
    G9 = "G9"  # leg risk: lone legs completed or unwound


class Outcome(StrEnum):
    APPROVE = "approve"
    RESIZE = "resize"
    REJECT = "reject"


class DenyCode(StrEnum):
    """The closed set of reasons a governor rule fires (metrics, MQTT and tests match on these, never on prose)."""

    PRICE_SANITY = "price_sanity"  # G6
    PRICE_COLLAR = "price_collar"  # G6: an order's price outside the band around the trusted reference (any order)
    PRICE_UNCONFIRMED = "price_unconfirmed"  # G6: the price guard holds this instrument's print as suspect
    STALE_SNAPSHOT = "stale_snapshot"  # G6
    NO_SNAPSHOT = "no_snapshot"  # G6
    MAX_ORDER_NOTIONAL = "max_order_notional"  # G7
    MAX_GROSS_VENUE = "max_gross_venue"  # G7
    MAX_GROSS_TOTAL = "max_gross_total"  # G7
    DAILY_LOSS_LIMIT = "daily_loss_limit"  # G7 -> G8 REDUCING
    MAX_DRAWDOWN = "max_drawdown"  # G7 -> G8 HALTED
    STATE_REDUCING = "state_reducing"  # G8
    STATE_HALTED = "state_halted"  # G8
    BELOW_MIN_SIZE = "below_min_size"  # resize left a leg under the venue minimum
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    LEVERAGE_CAP = "leverage_cap"  # G1
    MARGIN_BUFFER = "margin_buffer"  # G2
    LADDER_TRIM = "ladder_trim"  # G3 stage 1
    LADDER_HEDGE = "ladder_hedge"  # G3 stage 2
    LADDER_DERISK = "ladder_derisk"  # G3 stage 3
    EXPIRY_BLACKOUT = "expiry_blackout"  # G4
    EXPIRY_FINAL_WEEK = "expiry_final_week"  # G4
    EXPIRY_FUNDING_DISCOUNT = "expiry_funding_discount"  # G4
    EXPIRY_CLOSE = "expiry_close"  # G4: exposure to an expiring contract closed before its blackout
    CROWDING_HALF = "crowding_half"  # G5
    CROWDING_NO_ENTRY = "crowding_no_entry"  # G5
    POST_ONLY_ENTRY = "post_only_entry"  # G6: entry legs turned into post-only limits
    SPREAD_TOO_WIDE = "spread_too_wide"  # G6
    VOLATILITY_GATE = "volatility_gate"  # G6
    FUNDING_STALE = "funding_stale"  # G6
    STORE_DOWN = "store_down"  # G6: orders cannot be written ahead
    VENUE_UNHEALTHY = "venue_unhealthy"  # G6: the venue rejected orders repeatedly; entries there pause
    MAX_NET_VENUE = "max_net_venue"  # G7
    MAX_NET_TOTAL = "max_net_total"  # G7
    MAX_RISK_PER_POSITION = "max_risk_per_position"  # G7
    ORDER_RATE = "order_rate"  # G7
    MAX_OPEN_ORDERS = "max_open_orders"  # G7
    LEG_TIMEOUT = "leg_timeout"  # G9: unhedged beyond leg_timeout, unwound
    MARGIN_TOPUP = "margin_topup"  # G2: collateral moved to a position's margin (approve)
    TRANSFER_SOURCE_SHORT = "transfer_source_short"  # G2: the source wallet does not have the amount free
    TRANSFER_WEAKENS_MARGIN = "transfer_weakens_margin"  # G2: moving it out would bring a position near liquidation
    TRANSFER_UNKNOWN_ACCOUNT = "transfer_unknown_account"  # G2: no account state for that venue
    TRANSFER_UNKNOWN_WALLET = "transfer_unknown_wallet"  # G2: a wallet that venue account does not have
    MAX_TRANSFER = "max_transfer"  # G7: more than one transfer may move
    FIRM_GROSS_ASSET = "firm_gross_asset"  # G7 at firm scope: all instances' gross on one base asset
    FIRM_NET_ASSET = "firm_net_asset"  # G7 at firm scope: all instances' net on one base asset
    FIRM_GROSS_TOTAL = "firm_gross_total"  # G7 at firm scope
    FIRM_NET_TOTAL = "firm_net_total"  # G7 at firm scope
    FIRM_DAILY_LOSS = "firm_daily_loss"  # G7 at firm scope: the instances' losses today reached the firm's limit
    FIRM_ORDER_RATE = "firm_order_rate"  # G7 at firm scope: entry orders reserved in the last minute
    FIRM_UNREACHABLE = "firm_unreachable"  # the firm store cannot be reached: entries fail closed


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired on an intent: ``max_scale`` 0 denies, (0, 1) resizes; ``inputs`` are its numbers."""

    rule: RuleId
    code: DenyCode
    max_scale: float
    inputs: Inputs


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's answer to one intent. ``orders`` is empty unless approved or resized."""

    decision_id: str
    intent: OrderIntent
    outcome: Outcome
    scale: float
    hits: tuple[RuleHit, ...]
    orders: tuple[Order, ...]
    state: TradingState
    risk_reducing: bool
    ts_ns: int
    unavailable: tuple[str, ...] = ()  # signals the feed could not provide for this decision

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(h.rule for h in self.hits)


@dataclass(frozen=True, slots=True)
class TransferDecision:
    """The governor's answer to one transfer intent. ``transfer`` is None unless approved."""

    decision_id: str
    intent: TransferIntent
    outcome: Outcome
    hits: tuple[RuleHit, ...]
    transfer: Transfer | None
    state: TradingState
    ts_ns: int

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(h.rule for h in self.hits)


@dataclass(frozen=True, slots=True)
class HedgeGap:
    """The part of a two-leg entry's lead leg not yet matched by its hedge: what completing the pair would take."""

    instrument_id: str  # the hedge leg's instrument
    side: Side
    qty: float
    lead_price: float  # average fill price of the lead leg


@dataclass(frozen=True, slots=True)
class LadderEvent:
    """A G3 ladder stage change for ``key`` (``account`` or a base asset), with the measure that moved it."""

    ts_ns: int
    key: str
    measure: str
    from_stage: int
    to_stage: int
    value: float


@dataclass(frozen=True, slots=True)
class StateTransition:
    ts_ns: int
    from_state: TradingState
    to_state: TradingState
    rule: str
    code: DenyCode | None
    inputs: Inputs
