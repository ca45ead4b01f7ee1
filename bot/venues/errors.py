"""ccxt's exception hierarchy mapped, in one table, to what the bot should do about it.

- ``RETRY``: transient — ``NetworkError`` and its subclasses (timeouts, rate limits, exchange unavailable). Retried with
  jittered backoff; after one on ``create_order`` the order is looked up by client id before anything is resent.
- ``REJECT``: the venue said no to this request (invalid order, insufficient funds, bad symbol...). Never retried;
  the executor is told (a venue rejection, not a governor denial) and it is counted.
- ``UNKNOWN``: the venue answered something the bot cannot read (malformed JSON, unexpected error code): the outcome
  of a state-changing call is unknown, so it is looked up, not resent.
- ``STOP``: credentials or permissions — nothing will work until an operator acts.
"""

from __future__ import annotations

from enum import StrEnum

import ccxt

from bot.errors import VenueAuthError, VenueError, VenueRejected, VenueUnavailable, VenueUnknownOutcome


class ErrorKind(StrEnum):
    RETRY = "retry"
    REJECT = "reject"
    UNKNOWN = "unknown"
    STOP = "stop"


# most specific first: the first matching class decides
_TABLE: tuple[tuple[type[BaseException], ErrorKind, str], ...] = (
    (ccxt.AuthenticationError, ErrorKind.STOP, "authentication"),
    (ccxt.PermissionDenied, ErrorKind.STOP, "permission_denied"),
    (ccxt.AccountSuspended, ErrorKind.STOP, "account_suspended"),
    (ccxt.InsufficientFunds, ErrorKind.REJECT, "insufficient_funds"),
    (ccxt.OrderNotFound, ErrorKind.REJECT, "order_not_found"),
    (ccxt.InvalidOrder, ErrorKind.REJECT, "invalid_order"),
    (ccxt.BadSymbol, ErrorKind.REJECT, "bad_symbol"),
    (ccxt.BadRequest, ErrorKind.REJECT, "bad_request"),
    (ccxt.RateLimitExceeded, ErrorKind.RETRY, "rate_limited"),
    (ccxt.DDoSProtection, ErrorKind.RETRY, "ddos_protection"),
    (ccxt.RequestTimeout, ErrorKind.RETRY, "timeout"),
    (ccxt.ExchangeNotAvailable, ErrorKind.RETRY, "exchange_unavailable"),
    (ccxt.NetworkError, ErrorKind.RETRY, "network"),
    (ccxt.BadResponse, ErrorKind.UNKNOWN, "bad_response"),
    (ccxt.ExchangeError, ErrorKind.UNKNOWN, "exchange_error"),
)


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """(what to do, a short code for metrics and logs — never the venue's raw text, which may echo secrets)."""
    for cls, kind, code in _TABLE:
        if isinstance(exc, cls):
            return kind, code
    return ErrorKind.UNKNOWN, type(exc).__name__.lower()


REJECT_CODES = tuple(code for _, kind, code in _TABLE if kind is ErrorKind.REJECT)  # what a venue rejection may say

_CLASS: dict[ErrorKind, type[VenueError]] = {
    ErrorKind.RETRY: VenueUnavailable,
    ErrorKind.REJECT: VenueRejected,
    ErrorKind.UNKNOWN: VenueUnknownOutcome,
    ErrorKind.STOP: VenueAuthError,
}


def venue_error(venue: str, call: str, exc: BaseException) -> VenueError:
    """The bot's error for a failed venue call (``bot/errors.py``), carrying the venue, the call and the code."""
    kind, code = classify(exc)
    return _CLASS[kind](venue, call, code)
