"""Plain typed data shared by every part of the bot (SPEC §1).

Per-tick objects are ``slots=True, frozen=True`` dataclasses. Prices on snapshots are floats (market data is
approximate by nature and on the hot path); quantities, fills, fees and funding amounts are ``Decimal`` because
they are money and the ledger must add up exactly. Timestamps are integer nanoseconds since the Unix epoch, UTC,
named ``ts_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

NS_PER_SEC = 1_000_000_000
SECS_PER_YEAR = 365 * 24 * 3600
ZERO = Decimal(0)


class InstrumentKind(StrEnum):
    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class Purpose(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    RISK_REDUCE = "risk_reduce"


class Origin(StrEnum):
    STRATEGY = "strategy"
    GOVERNOR = "governor"
    OPERATOR = "operator"


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional (0.001 = 10 bp)."""

    maker: Decimal
    taker: Decimal

    def rate(self, liquidity: Liquidity) -> Decimal:
        return self.maker if liquidity is Liquidity.MAKER else self.taker


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable contract on one venue. ``id`` is ``venue:symbol`` with ccxt's unified symbol."""

    venue: str
    symbol: str
    kind: InstrumentKind
    base: str
    quote: str
    fees: FeeSchedule
    contract_size: Decimal = Decimal(1)
    qty_step: Decimal = Decimal("0.0001")
    min_qty: Decimal = Decimal("0.0001")
    price_tick: Decimal = Decimal("0.01")
    maintenance_margin_rate: Decimal = ZERO
    funding_interval_secs: int | None = None
    ts_expiry_ns: int | None = None
    synthetic: bool = False  # generated, not a venue's real contract (reports and metrics say so)
    inverse: bool = False  # coin-margined: contract_size is in quote currency, PnL and margin in base
    settle: str = ""  # settlement currency ("" = the quote)
    min_notional: Decimal = ZERO  # the venue's smallest order value in the quote (ccxt limits.cost.min); 0 = none
    id: str = field(init=False)
    is_derivative: bool = field(init=False)  # decided once: read on every governor check

    def __post_init__(self) -> None:
        if self.kind is InstrumentKind.PERP and not self.funding_interval_secs:
            raise ValueError(f"{self.venue}:{self.symbol}: a perpetual needs its funding interval")
        if self.kind is InstrumentKind.FUTURE and self.ts_expiry_ns is None:
            raise ValueError(f"{self.venue}:{self.symbol}: a dated future needs its expiry")
        if self.qty_step <= 0 or self.contract_size <= 0:
            raise ValueError(f"{self.venue}:{self.symbol}: qty_step and contract_size must be positive")
        object.__setattr__(self, "id", f"{self.venue}:{self.symbol}")
        object.__setattr__(self, "is_derivative", self.kind is not InstrumentKind.SPOT)

    @property
    def liquidity_rank(self) -> int:
        """Lower is less liquid: spot, then dated futures, then perpetuals (leg-safe entries lead with it)."""
        return {InstrumentKind.SPOT: 0, InstrumentKind.FUTURE: 1, InstrumentKind.PERP: 2}[self.kind]

    @property
    def funding_periods_per_year(self) -> float:
        """Settlements per year, from the instrument's own interval (never an assumed 8 h)."""
        if not self.funding_interval_secs:
            raise ValueError(f"{self.id} has no funding interval")
        return SECS_PER_YEAR / self.funding_interval_secs

    def round_qty(self, qty: Decimal) -> Decimal:
        """Round a quantity down to the venue's step (never up: a rounded order must not grow)."""
        steps = (qty / self.qty_step).to_integral_value(rounding="ROUND_FLOOR")
        return steps * self.qty_step


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """A funding settlement that took place at ``ts_ns`` with ``rate`` (per interval, longs pay when positive)."""

    ts_ns: int
    rate: float


@dataclass(slots=True)  # a value: never assigned after construction. Not frozen: a frozen dataclass's __init__ costs
class MarketSnapshot:  # ~12x more (3.8 vs 0.3 us with 20 fields), and the replay builds one per bar
    """What the bot knows of one instrument at ``ts_ns``.

    ``range_high``/``range_low`` cover the interval since the previous snapshot (used for liquidation checks
    and volatility). ``funding_rate`` is the rate currently in force (last settled where the venue publishes no
    prediction); ``predicted_funding_rate`` is the venue's prediction when it has one. ``settlement`` is set only on
    the snapshot at which a funding settlement happened. ``None`` means the feed cannot provide the field.
    """

    instrument_id: str
    ts_ns: int
    bid: float
    ask: float
    last: float
    mark: float
    index: float | None = None
    range_high: float | None = None
    range_low: float | None = None
    volume: float | None = None
    funding_rate: float | None = None
    predicted_funding_rate: float | None = None
    funding_interval_secs: int | None = None
    ts_next_funding_ns: int | None = None
    settlement: FundingSettlement | None = None
    open_interest: float | None = None
    realized_vol: float | None = None
    liq_long_usd: float | None = None  # long liquidations since the previous snapshot
    liq_short_usd: float | None = None
    skew_25d: float | None = None  # options 25-delta put IV minus call IV (vol points as a fraction)
    ts_expiry_ns: int | None = None
    suspect: bool = False  # the price guard held back a broken print: these are the last trusted prices

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5

    def touch(self, side: Side) -> float:
        """The price an aggressive order on ``side`` meets first."""
        return self.ask if side is Side.BUY else self.bid


@dataclass(frozen=True, slots=True)
class MarketBatch:
    """All snapshots that share one timestamp (one tick of the feed)."""

    ts_ns: int
    snapshots: tuple[MarketSnapshot, ...]


@dataclass(frozen=True, slots=True)
class IntentLeg:
    instrument_id: str
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    leverage: int | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy (or the governor, or an operator) wants done: one or more legs as one unit."""

    intent_id: str
    origin: Origin
    source: str
    purpose: Purpose
    legs: tuple[IntentLeg, ...]
    ts_ns: int
    reason: str = ""
    flatten: bool = False
    edge_apr: float | None = None  # the strategy's expected net carry, annualized (G4 discounts it)

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("an intent needs at least one leg")
        for leg in self.legs:
            if leg.qty <= 0:
                raise ValueError(f"{self.intent_id}: leg quantity must be positive, got {leg.qty}")


@dataclass(frozen=True, slots=True)
class Order:
    """An order the governor approved. Only ``governor.engine`` builds these."""

    client_order_id: str
    intent_id: str
    decision_id: str
    instrument_id: str
    side: Side
    qty: Decimal
    order_type: OrderType
    purpose: Purpose
    ts_created_ns: int
    limit_price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False
    leverage: int | None = None
    ref_mid: float = 0.0
    ref_touch: float = 0.0
    hedge_of: str | None = None  # a hedge child: the lead fill it hedges ("venue:trade_id")


@dataclass(frozen=True, slots=True)
class Fill:
    """A (partial) execution reported by a venue. ``fee`` is in the quote currency, positive = paid."""

    venue: str
    trade_id: str
    client_order_id: str
    instrument_id: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_ns: int
    is_liquidation: bool = False
    is_settlement: bool = False  # a dated future's cash settlement at expiry
    intrabar: bool = False  # simulated: a resting order matched against a bar's range (filled inside the bar)
    # base the venue kept as the fee (a spot buy's fee taken in the coin bought): ``qty`` is what the position moved
    # (bought less it, or sold plus it) and ``fee`` its value in the quote, so cash and holdings match the venue's
    fee_qty: Decimal = ZERO

    @property
    def key(self) -> str:
        """Unique across venues: ``venue:trade_id``."""
        return f"{self.venue}:{self.trade_id}"

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is Side.BUY else -self.qty

    @property
    def traded_qty(self) -> Decimal:
        """What changed hands (the order's fill), before the venue kept ``fee_qty`` of the base."""
        return self.qty + self.fee_qty if self.side is Side.BUY else self.qty - self.fee_qty


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A venue's word on an order's state; ``reason`` says why on rejection (venue-side, not governor)."""

    venue: str
    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal
    ts_ns: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on a position: ``amount`` > 0 was received, < 0 paid. ``position_qty`` is signed."""

    venue: str
    instrument_id: str
    ts_ns: int
    rate: Decimal
    position_qty: Decimal
    mark: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BorrowCharge:
    """Interest charged on borrowed spot (a short-spot leg) for the time since the last charge; ``amount`` > 0 paid."""

    venue: str
    instrument_id: str
    ts_ns: int
    qty: Decimal  # borrowed base quantity (positive)
    rate_apr: float
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    instrument_id: str
    qty: Decimal
    avg_price: Decimal


@dataclass(frozen=True, slots=True)
class TransferIntent:
    """Move ``amount`` of ``asset`` between two wallets of one venue account, or into an isolated position's margin
    (``to_wallet`` ``isolated`` with ``instrument_id``). Moves no equity; only the governor turns it into a
    ``Transfer``."""

    intent_id: str
    origin: Origin
    source: str
    venue: str
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    ts_ns: int
    instrument_id: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"{self.intent_id}: transfer amount must be positive, got {self.amount}")
        if self.from_wallet == self.to_wallet:
            raise ValueError(f"{self.intent_id}: a transfer needs two different wallets")


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer the governor approved. Only ``governor.engine`` builds these."""

    transfer_id: str
    intent_id: str
    decision_id: str
    venue: str
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    ts_ns: int
    instrument_id: str | None = None


class TransferStatus(StrEnum):
    DONE = "done"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class TransferUpdate:
    """The venue's word on a transfer."""

    venue: str
    transfer_id: str
    status: TransferStatus
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    ts_ns: int
    instrument_id: str | None = None
    reason: str = ""

    @classmethod
    def of(cls, t: Transfer, status: TransferStatus, ts_ns: int, reason: str = "") -> TransferUpdate:
        """The venue's answer to the transfer ``t``."""
        return cls(
            t.venue,
            t.transfer_id,
            status,
            t.asset,
            t.amount,
            t.from_wallet,
            t.to_wallet,
            ts_ns,
            t.instrument_id,
            reason,
        )


VenueEvent = Fill | OrderUpdate | FundingPayment | BorrowCharge | TransferUpdate


def to_decimal(x: float) -> Decimal:
    """Exact shortest decimal for a float price (``repr`` round-trips; ``Decimal(float)`` drags binary noise)."""
    return Decimal(repr(x))


Inputs = Mapping[str, float | int | str | None]
