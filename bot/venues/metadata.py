"""Instrument metadata from venues' own payloads (the raw JSON their REST APIs return).

Parses dated futures (and the perpetuals listed beside them) into ``Instrument``s with the venue's expiry, contract
size, tick and lot, so a venue-provided expiry wins over the G4 calendar. Symbols follow ccxt's unified form:
``BASE/QUOTE:SETTLE`` for perpetuals and ``BASE/QUOTE:SETTLE-YYMMDD`` for dated futures.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain import NS_PER_SEC, Instrument, InstrumentKind
from bot.venues.fees import PERP_FEES

MS = 1_000_000


class MetadataError(ValueError):
    """A payload that is not what the venue's API returns."""


def _yymmdd(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%y%m%d")


def okx_instruments(payload: Mapping[str, Any]) -> dict[str, Instrument]:
    """OKX ``GET /api/v5/public/instruments?instType=FUTURES|SWAP``."""
    if payload.get("code") not in ("0", 0) or not isinstance(payload.get("data"), list):
        raise MetadataError(f"OKX error or unexpected shape: code={payload.get('code')!r} msg={payload.get('msg')!r}")
    out = {}
    for row in payload["data"]:
        kind = {"FUTURES": InstrumentKind.FUTURE, "SWAP": InstrumentKind.PERP}.get(row.get("instType"))
        if kind is None or row.get("state") not in ("live", "preopen"):
            continue
        base, quote = row["uly"].split("-")
        inverse = row.get("ctType") == "inverse"
        settle = row.get("settleCcy") or quote
        symbol = f"{base}/{quote}:{settle}"
        expiry = None
        if kind is InstrumentKind.FUTURE:
            exp_ms = int(row["expTime"])
            symbol += f"-{_yymmdd(exp_ms)}"
            expiry = exp_ms * MS
        inst = Instrument(
            venue="okx",
            symbol=symbol,
            kind=kind,
            base=base,
            quote=quote,
            fees=PERP_FEES["okx"],
            contract_size=Decimal(row["ctVal"]),
            qty_step=Decimal(row["lotSz"]),
            min_qty=Decimal(row["minSz"]),
            price_tick=Decimal(row["tickSz"]),
            funding_interval_secs=8 * 3600 if kind is InstrumentKind.PERP else None,
            ts_expiry_ns=expiry,
            inverse=inverse,
            settle=settle,
        )
        out[inst.id] = inst
    return out


def binance_delivery_instruments(payload: Mapping[str, Any]) -> dict[str, Instrument]:
    """Binance COIN-M ``GET /dapi/v1/exchangeInfo`` (quarterlies and perpetuals)."""
    symbols = payload.get("symbols")
    if not isinstance(symbols, list):
        raise MetadataError("Binance exchangeInfo without a 'symbols' list")
    out = {}
    for row in symbols:
        ctype = row.get("contractType")
        if row.get("contractStatus") != "TRADING" or ctype not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER"):
            continue
        filters = {f["filterType"]: f for f in row.get("filters", [])}
        base, quote, settle = row["baseAsset"], row["quoteAsset"], row["marginAsset"]
        perp = ctype == "PERPETUAL"
        symbol = f"{base}/{quote}:{settle}"
        expiry = None
        if not perp:
            delivery_ms = int(row["deliveryDate"])
            symbol += f"-{_yymmdd(delivery_ms)}"
            expiry = delivery_ms * MS
        inst = Instrument(
            venue="binance",
            symbol=symbol,
            kind=InstrumentKind.PERP if perp else InstrumentKind.FUTURE,
            base=base,
            quote=quote,
            fees=PERP_FEES["binance"],
            contract_size=Decimal(str(row["contractSize"])),
            qty_step=Decimal(filters["LOT_SIZE"]["stepSize"]),
            min_qty=Decimal(filters["LOT_SIZE"]["minQty"]),
            price_tick=Decimal(filters["PRICE_FILTER"]["tickSize"]),
            maintenance_margin_rate=Decimal(row["maintMarginPercent"]) / 100,
            funding_interval_secs=8 * 3600 if perp else None,
            ts_expiry_ns=expiry,
            inverse=True,
            settle=settle,
        )
        out[inst.id] = inst
    return out


def expiry_utc(inst: Instrument) -> datetime | None:
    return None if inst.ts_expiry_ns is None else datetime.fromtimestamp(inst.ts_expiry_ns / NS_PER_SEC, UTC)
