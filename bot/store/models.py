"""Persistence models (SQLAlchemy 2, typed). Money and quantities are ``Numeric``; timestamps are integer nanoseconds
since the epoch, UTC (``*_ns``), as everywhere in the bot. Constraints are named, so migrations can address them.
Venue-reported facts (fills, funding, borrow) are kept apart from what the bot owns (orders it decided, decisions).
Every schema change is an Alembic revision in ``bot/store/migrations``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ExactDecimal(TypeDecorator[Decimal]):
    """Money that stays exact on every backend: ``NUMERIC(38, 18)`` on PostgreSQL; on SQLite, which has no decimal
    type (SQLAlchemy's Numeric would store a binary float there), the decimal's canonical text."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return str(value) if type(value) is Decimal else str(Decimal(value))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if not isinstance(value, Decimal) else value


Money = ExactDecimal()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Run(Base):
    """One bot run (paper, live or backtest) with its parameters, data version and results."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # running | finished
    started_ns: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)
    cursor_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # last tick fully committed
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    data_version: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class OrderRow(Base):
    """An order the bot decided to send, written *before* it is sent (write-ahead)."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    intent_id: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[str] = mapped_column(String(64))
    venue: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[Decimal] = mapped_column(Money)
    order_type: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    post_only: Mapped[bool] = mapped_column(Boolean)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    leverage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ref_mid: Mapped[Decimal] = mapped_column(Money)
    ref_touch: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20))  # pending | accepted | partially_filled | filled | canceled |
    # rejected | not_sent (found unknown to the venue after a crash)
    filled_qty: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ts_created_ns: Mapped[int] = mapped_column(BigInteger)
    ts_updated_ns: Mapped[int] = mapped_column(BigInteger)


class FillRow(Base):
    """A venue-reported execution."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("run_id", "venue", "trade_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    venue: Mapped[str] = mapped_column(String(32))
    trade_id: Mapped[str] = mapped_column(String(64))
    client_order_id: Mapped[str] = mapped_column(String(64))
    instrument_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    liquidity: Mapped[str] = mapped_column(String(8))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    is_liquidation: Mapped[bool] = mapped_column(Boolean)
    is_settlement: Mapped[bool] = mapped_column(Boolean)
    fee_qty: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))  # base kept as the fee (Fill.fee_qty)


class FundingRow(Base):
    """A venue-reported funding payment: at most one per account (run), venue, instrument and settlement time."""

    __tablename__ = "funding_payments"
    __table_args__ = (UniqueConstraint("run_id", "venue", "instrument_id", "ts_ns"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    venue: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[str] = mapped_column(String(64))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[Decimal] = mapped_column(Money)
    position_qty: Mapped[Decimal] = mapped_column(Money)
    mark: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class BorrowRow(Base):
    """Venue-charged interest on borrowed spot."""

    __tablename__ = "borrow_charges"
    __table_args__ = (UniqueConstraint("run_id", "venue", "instrument_id", "ts_ns"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    venue: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[str] = mapped_column(String(64))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[Decimal] = mapped_column(Money)
    rate_apr: Mapped[float] = mapped_column(Float)
    amount: Mapped[Decimal] = mapped_column(Money)


class TransferRow(Base):
    """A wallet transfer or margin top-up as the venue carried it out (or refused it): moves no equity."""

    __tablename__ = "transfers"
    __table_args__ = (UniqueConstraint("run_id", "venue", "transfer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    venue: Mapped[str] = mapped_column(String(32))
    transfer_id: Mapped[str] = mapped_column(String(64))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    from_wallet: Mapped[str] = mapped_column(String(16))
    to_wallet: Mapped[str] = mapped_column(String(16))
    instrument_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(64))


class DecisionRow(Base):
    """Every governor decision, with the rules that fired and their inputs."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("run_id", "decision_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    decision_id: Mapped[str] = mapped_column(String(64))
    intent_id: Mapped[str] = mapped_column(String(64))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(8))
    scale: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    risk_reducing: Mapped[bool] = mapped_column(Boolean)
    rules: Mapped[str] = mapped_column(String(128))
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    unavailable: Mapped[str] = mapped_column(String(128))


class TransitionRow(Base):
    __tablename__ = "state_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)


class LadderRow(Base):
    __tablename__ = "ladder_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(String(32))
    from_stage: Mapped[int] = mapped_column(Integer)
    to_stage: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)


class EquityRow(Base):
    __tablename__ = "equity_snapshots"
    __table_args__ = (UniqueConstraint("run_id", "ts_ns"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    equity: Mapped[Decimal] = mapped_column(Money)


class PositionRow(Base):
    """The bot's position per instrument (mid-cost basis, as the ledger keeps it), upserted as it changes."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("run_id", "instrument_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    instrument_id: Mapped[str] = mapped_column(String(64))
    qty: Mapped[Decimal] = mapped_column(Money)
    avg_cost: Mapped[Decimal] = mapped_column(Money)
    ts_ns: Mapped[int] = mapped_column(BigInteger)


class PairRow(Base):
    """A two-leg entry as one unit, with its state (pending → … → closed)."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("run_id", "decision_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    decision_id: Mapped[str] = mapped_column(String(64))
    lead_order_id: Mapped[str] = mapped_column(String(64))
    hedge_instrument_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    lead_filled: Mapped[Decimal] = mapped_column(Money)
    hedge_filled: Mapped[Decimal] = mapped_column(Money)
    ts_ns: Mapped[int] = mapped_column(BigInteger)


class GovernorStateRow(Base):
    """The governor's state (trading state, peaks, ladder stages, leg timers), so it survives restarts."""

    __tablename__ = "governor_state"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)


class CommandNonceRow(Base):
    """An operator command's nonce, kept until its command could no longer be fresh (replays refused after
    restarts)."""

    __tablename__ = "command_nonces"
    bot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_ns: Mapped[int] = mapped_column(BigInteger)
    expires_ns: Mapped[int] = mapped_column(BigInteger)


# --- the firm budget (``bot.firm``): shared by every instance on one PostgreSQL; times are the server's clock -------


class FirmInstanceRow(Base):
    """An instance under the firm's budget: its lease (renewed while it runs) and its day's equity."""

    __tablename__ = "firm_instances"
    firm: Mapped[str] = mapped_column(String(32), primary_key=True)
    bot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    limits_sha: Mapped[str] = mapped_column(String(64))  # its firm limits' fingerprint: all live ones must agree
    joined_ns: Mapped[int] = mapped_column(BigInteger)
    lease_until_ns: Mapped[int] = mapped_column(BigInteger)
    equity_usd: Mapped[float] = mapped_column(Float, default=0.0)
    day_start_equity_usd: Mapped[float] = mapped_column(Float, default=0.0)


class FirmExposureRow(Base):
    """What an instance holds on one base asset, as it last reported (at mark; kept after it dies: positions stay)."""

    __tablename__ = "firm_exposure"
    firm: Mapped[str] = mapped_column(String(32), primary_key=True)
    bot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    gross_usd: Mapped[float] = mapped_column(Float)
    net_usd: Mapped[float] = mapped_column(Float)
    ts_ns: Mapped[int] = mapped_column(BigInteger)


class FirmReservationRow(Base):
    """An entry's share of the budget, per base asset: active until its orders are done (what is left of it shrinks
    as they fill), then converted (it filled: now held) or released; expired with its instance's lease."""

    __tablename__ = "firm_reservations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    firm: Mapped[str] = mapped_column(String(32), index=True)
    bot_id: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(16))
    gross_usd: Mapped[float] = mapped_column(Float)
    net_usd: Mapped[float] = mapped_column(Float)
    remaining_gross_usd: Mapped[float] = mapped_column(Float)
    remaining_net_usd: Mapped[float] = mapped_column(Float)
    orders: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | converted | released | expired
    created_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    closed_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class FirmAuditRow(Base):
    """Every reservation, refusal, conversion, release and expiry, with the numbers behind it."""

    __tablename__ = "firm_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    firm: Mapped[str] = mapped_column(String(32))
    bot_id: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))  # reserved | refused | converted | released | expired
    code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    numbers: Mapped[dict[str, Any]] = mapped_column(JSON)
