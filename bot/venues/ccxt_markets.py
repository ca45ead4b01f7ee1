"""ccxt markets as the bot sees them: unified markets → ``Instrument``s, client order ids each venue accepts, the
per-venue ccxt settings, and funding intervals read from venue payloads (never assumed)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.domain import FeeSchedule, Instrument, InstrumentKind

# what each venue accepts as a client order id
_CLIENT_ID_RULES: dict[str, tuple[int, str]] = {
    "okx": (32, r"[^A-Za-z0-9]"),
    "binance": (36, r"[^A-Za-z0-9._:/-]"),
    "bybit": (36, r"[^A-Za-z0-9_-]"),
    "deribit": (64, r"[^A-Za-z0-9_-]"),
}


def venue_client_id(client_order_id: str, venue: str) -> str:
    """The bot's client order id in a form the venue accepts: same id in, same id out (deterministic)."""
    limit, bad = _CLIENT_ID_RULES.get(venue, (32, r"[^A-Za-z0-9]"))
    cleaned = re.sub(bad, "", client_order_id)
    if len(cleaned) <= limit and cleaned == client_order_id:
        return cleaned
    digest = hashlib.sha256(client_order_id.encode()).hexdigest()[:10]
    return (cleaned[: limit - len(digest)] + digest)[:limit]


def venue_client_prefix(prefix: str, venue: str) -> str:
    """What every client id ``venue_client_id`` makes from ids starting with ``prefix`` starts with at ``venue``."""
    _limit, bad = _CLIENT_ID_RULES.get(venue, (32, r"[^A-Za-z0-9]"))
    return re.sub(bad, "", prefix)


# Per-venue ccxt options. Binance: skip the private currency list and margin pairs at load (not used; with keys they
# are two extra signed calls on every start).
# Bybit: spot and perpetual/futures markets only (no option chains at start-up).
VENUE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchCurrencies": False, "fetchMargins": False},
    "bybit": {
        "fetchCurrencies": False,
        "fetchMarkets": {"types": ["spot", "linear", "inverse"], "usePrivateInstrumentsInfo": False},
    },
}


def rebased(urls: Any, scheme: str, base: str) -> Any:
    """ccxt's nested URL table with every ``scheme`` URL moved under ``base``, its host kept as the first path part."""
    if isinstance(urls, dict):
        return {k: rebased(x, scheme, base) for k, x in urls.items()}
    if isinstance(urls, str) and urls.startswith(scheme):
        return f"{base}/{urls.removeprefix(scheme)}"
    return urls


def route_through(exchange: Any, base: str) -> None:
    """Send every REST call of a ccxt exchange to ``{base}/{original host}/{path}`` (the venue emulator, a recording
    proxy). The venue's own error tables, which some venues key by host (Binance: spot, USDⓈ-M and COIN-M codes),
    still see the original URL, so errors are read exactly as from the real host."""
    base = base.rstrip("/")
    exchange.urls["api"] = rebased(exchange.urls["api"], "https://", base)
    handle = exchange.handle_errors

    def handle_errors(code: Any, reason: Any, url: str, *rest: Any) -> Any:
        return handle(code, reason, "https://" + url.removeprefix(base + "/") if url else url, *rest)

    exchange.handle_errors = handle_errors


def configure(exchange: Any) -> Any:
    """Per-instance settings ccxt does not take as options: no currency list at load (a private call on some venues,
    and nothing the bot uses)."""
    exchange.has = dict(exchange.has) | {"fetchCurrencies": False}
    return exchange


def market_funding_interval(m: Mapping[str, Any]) -> int | None:
    """A funding interval the market's own payload states (Bybit ``fundingInterval``, in minutes). A value under 60
    is ambiguous (recorded payloads carry ``8``, which in minutes would be absurd): it is not trusted, and the
    venue is asked instead (its ticker's ``fundingIntervalHour``)."""
    raw = (m.get("info") or {}).get("fundingInterval")
    if raw is None:
        return None
    try:
        minutes = int(raw)
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes >= 60 else None


def market_to_instrument(venue: str, m: Mapping[str, Any], fees: FeeSchedule) -> Instrument | None:
    """A ccxt unified market as an ``Instrument`` (None for options and other kinds the bot does not trade)."""
    kind = (
        InstrumentKind.SPOT
        if m.get("spot")
        else InstrumentKind.PERP
        if m.get("swap")
        else InstrumentKind.FUTURE
        if m.get("future")
        else None
    )
    if kind is None or kind is InstrumentKind.FUTURE and not m.get("expiry"):  # options, combos, spreads
        return None
    prec = m.get("precision") or {}
    limits = (m.get("limits") or {}).get("amount") or {}
    # ccxt counts derivatives in contracts: the bot's steps and minimums are base units (OKX BTC-USDT-SWAP: 0.01 BTC)
    linear = kind is not InstrumentKind.SPOT and not m.get("inverse")
    size = Decimal(str(m.get("contractSize") or 1)) if linear else Decimal(1)
    step = Decimal(str(prec.get("amount") or "0.00000001")) * size
    return Instrument(
        venue=venue,
        symbol=m["symbol"],
        kind=kind,
        base=m["base"],
        quote=m["quote"],
        fees=fees,
        contract_size=Decimal(str(m.get("contractSize") or 1)),
        qty_step=step,
        min_qty=Decimal(str(limits.get("min"))) * size if limits.get("min") else step,
        price_tick=Decimal(str(prec.get("price") or "0.01")),
        # provisional 8 h until ``resolve_funding_interval`` asks the venue (live runs trade only resolved perps)
        funding_interval_secs=(market_funding_interval(m) or 8 * 3600) if kind is InstrumentKind.PERP else None,
        ts_expiry_ns=int(m["expiry"]) * 1_000_000 if kind is InstrumentKind.FUTURE and m.get("expiry") else None,
        inverse=bool(m.get("inverse")),
        settle=m.get("settle") or "",
        min_notional=Decimal(str(((m.get("limits") or {}).get("cost") or {}).get("min") or 0)),
    )


def interval_secs(text: str | None) -> int | None:
    """ccxt's '8h' / '1h' / '4h' as seconds; None when the venue did not say."""
    if not text:
        return None
    m = re.fullmatch(r"(\d+)([hm])", str(text))
    if m is None or int(m.group(1)) == 0:  # "0h": ccxt derived it from a field it could not read
        return None
    return int(m.group(1)) * (3600 if m.group(2) == "h" else 60)
