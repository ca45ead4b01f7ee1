"""The paper venue's own durable state, kept apart from the bot's store — as a real exchange's would be.

One SQLite file (stdlib ``sqlite3``, synchronous: the venue is a simulated *remote* system and its writes stand for
the exchange's). Each mutating call of the venue commits its new account state and the events it produced in one
transaction, so a bot killed at any moment meets a venue that remembers exactly what it did.

WAL journal. A commit that records an order the venue received or cancelled (``durable=True``) is
``synchronous=FULL``: on disk when it returns, with every earlier commit. The commits of market ticks (matching,
funding, borrow, expiry) are ``synchronous=NORMAL``: in the WAL when they return, so a SIGKILL loses none of them;
a power cut can lose those since the last order the venue took — the venue then restarts from that moment and
lives through the ticks again (the same market replays to the same fills and payments).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from bot.domain import (
    BorrowCharge,
    Fill,
    FundingPayment,
    FundingSettlement,
    Liquidity,
    MarketSnapshot,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Purpose,
    Side,
    TransferStatus,
    TransferUpdate,
)


class PaperJournal:
    def __init__(self, path: Path, venue: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.venue = venue
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._full = False
        self._db.execute("CREATE TABLE IF NOT EXISTS state (venue TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (venue TEXT NOT NULL, seq INTEGER NOT NULL, "
            "kind TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (venue, seq))"
        )
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE venue = ?", (venue,)).fetchone()
        self._seq = int(row[0])

    def load(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM state WHERE venue = ?", (self.venue,)).fetchone()
        return None if row is None else json.loads(row[0])

    def events(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT body FROM events WHERE venue = ? AND kind = ? ORDER BY seq", (self.venue, kind)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def save(self, state: dict[str, Any], events: list[tuple[str, dict[str, Any]]], durable: bool = False) -> None:
        """Commit the account state and new events atomically (``durable``: to disk before returning)."""
        db = self._db
        if durable != self._full:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._full = durable
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO state (venue, body) VALUES (?, ?) ON CONFLICT(venue) DO UPDATE SET body = excluded.body",
                (self.venue, json.dumps(state)),
            )
            for kind, body in events:
                self._seq += 1
                db.execute(
                    "INSERT INTO events (venue, seq, kind, body) VALUES (?, ?, ?, ?)",
                    (self.venue, self._seq, kind, json.dumps(body)),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()


# --- codecs: the venue's records as JSON (Decimals as strings, enums as values) ---------------------------------

_FIELDS: dict[type, tuple[str, ...]] = {}  # a record type's constructor fields, looked up once (this runs per tick)


def _enc(obj: Any) -> dict[str, Any]:
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(f.name for f in dataclasses.fields(obj) if f.init)
    out = {}
    for name in names:
        v = getattr(obj, name)
        if v is None or type(v) in (int, float, str, bool):
            pass
        elif isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, Enum):
            v = v.value
        elif dataclasses.is_dataclass(v):
            v = _enc(v)
        out[name] = v
    return out


def encode(obj: Any) -> dict[str, Any]:
    """A domain record (Order, Fill, FundingPayment, BorrowCharge, OrderUpdate, MarketSnapshot) as JSON-ready data."""
    return _enc(obj)


def decode_order(d: dict[str, Any]) -> Order:
    return Order(
        **(
            d
            | {
                "side": Side(d["side"]),
                "qty": Decimal(d["qty"]),
                "order_type": OrderType(d["order_type"]),
                "purpose": Purpose(d["purpose"]),
                "limit_price": None if d["limit_price"] is None else Decimal(d["limit_price"]),
            }
        )
    )


def decode_fill(d: dict[str, Any]) -> Fill:
    return Fill(
        **(
            d
            | {
                "side": Side(d["side"]),
                "qty": Decimal(d["qty"]),
                "price": Decimal(d["price"]),
                "fee": Decimal(d["fee"]),
                "fee_qty": Decimal(d.get("fee_qty", "0")),
                "liquidity": Liquidity(d["liquidity"]),
            }
        )
    )


def decode_funding(d: dict[str, Any]) -> FundingPayment:
    return FundingPayment(**(d | {k: Decimal(d[k]) for k in ("rate", "position_qty", "mark", "amount")}))


def decode_borrow(d: dict[str, Any]) -> BorrowCharge:
    return BorrowCharge(**(d | {"qty": Decimal(d["qty"]), "amount": Decimal(d["amount"])}))


def decode_update(d: dict[str, Any]) -> OrderUpdate:
    return OrderUpdate(**(d | {"status": OrderStatus(d["status"]), "filled_qty": Decimal(d["filled_qty"])}))


def decode_snapshot(d: dict[str, Any]) -> MarketSnapshot:
    st = d.get("settlement")
    return MarketSnapshot(**(d | {"settlement": None if st is None else FundingSettlement(**st)}))


def decode_transfer(d: dict[str, Any]) -> TransferUpdate:
    return TransferUpdate(**(d | {"status": TransferStatus(d["status"]), "amount": Decimal(d["amount"])}))
