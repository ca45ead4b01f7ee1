"""A venue's own records of this account, read whole: trades and funding payments since a time, paginated under each
venue's documented limits (a window of at most so many days per request, so many rows per page), each row once.

Binance: ``myTrades`` 24 h per request, ``userTrades`` 7 days, ``income`` 100 rows by default (1,000 at most) and
only the last 7 days when no start is sent. Bybit v5: 7 days and 100 rows per request. OKX bills and fills: 100 rows.
A page as long as the limit is followed by the next page from its last row's time (rows at that same millisecond are
read again and dropped by id); a shorter page ends its window."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Paging:
    """One kind of history at one venue: the widest window one request may span, and the rows per page."""

    window_ms: int
    limit: int


# (venue, what) -> paging; "trades_spot", "trades_swap", "orders_spot", "orders_swap", "funding"
PAGING: dict[tuple[str, str], Paging] = {
    ("binance", "trades_spot"): Paging(DAY_MS, 1000),
    ("binance", "trades_swap"): Paging(7 * DAY_MS, 1000),
    ("binance", "funding"): Paging(7 * DAY_MS, 1000),
    ("binance", "orders_spot"): Paging(DAY_MS, 1000),
    ("binance", "orders_swap"): Paging(7 * DAY_MS, 1000),
    ("bybit", "trades_spot"): Paging(7 * DAY_MS, 100),
    ("bybit", "trades_swap"): Paging(7 * DAY_MS, 100),
    ("bybit", "funding"): Paging(7 * DAY_MS, 100),
    ("okx", "trades_spot"): Paging(7 * DAY_MS, 100),
    ("okx", "trades_swap"): Paging(7 * DAY_MS, 100),
    ("okx", "funding"): Paging(7 * DAY_MS, 100),
}
DEFAULT_PAGING = Paging(DAY_MS, 100)

Fetch = Callable[[int, int, int], Awaitable[list[Mapping[str, Any]]]]  # (start ms, end ms, limit) -> rows


async def read_all(
    fetch: Fetch, since_ms: int, now_ms: int, paging: Paging, key: Callable[[Mapping[str, Any]], Hashable]
) -> list[Mapping[str, Any]]:
    """Every row from ``since_ms`` to ``now_ms``, oldest first, each once (by ``key``)."""
    out: list[Mapping[str, Any]] = []
    seen: set[Hashable] = set()
    start = since_ms
    while start <= now_ms:
        end = min(start + paging.window_ms - 1, now_ms)
        rows = await fetch(start, end, paging.limit)
        new = [r for r in rows if key(r) not in seen]
        for r in new:
            seen.add(key(r))
            out.append(r)
        if len(rows) >= paging.limit and new:  # a full page: more may follow inside this window
            start = max(int(r.get("timestamp") or start) for r in rows)
            continue
        start = end + 1
    out.sort(key=lambda r: int(r.get("timestamp") or 0))
    return out


def paging(venue: str, what: str) -> Paging:
    return PAGING.get((venue, what), DEFAULT_PAGING)
