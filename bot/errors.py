"""carrybot's errors, grouped by what the caller must do about them.

| class | meaning | the caller |
|---|---|---|
| ``VenueUnavailable`` | temporary venue trouble (timeout, rate limit, 5xx, network) | retries with backoff, or waits |
| ``VenueUnknownOutcome`` | the venue's answer cannot be read | looks the order up; never resends |
| ``VenueRejected`` | the venue said no to this request | does not retry; counts it |
| ``VenueAuthError`` | credentials or permissions | stops: an operator must act |
| ``ConfigError`` | invalid configuration or input | exits 2 naming the field |
| ``StoreError`` | the store refused a read or write | buffers (writes) or stops (start-up) |

Every venue error carries the venue, the call and a short code — never the venue's raw text, which can echo request
headers and so secrets.
"""

from __future__ import annotations


class CarrybotError(Exception):
    """The base of every error the bot raises on purpose."""


class ConfigError(CarrybotError):
    """Invalid configuration or input: the command exits 2 with this message, which names the field or file."""


class StoreError(CarrybotError):
    """The store refused a read or write."""


class VenueError(CarrybotError):
    """A venue call failed. ``venue``, ``call`` and ``code`` say which and how."""

    def __init__(self, venue: str, call: str, code: str) -> None:
        super().__init__(f"{venue} {call}: {code}")
        self.venue = venue
        self.call = call
        self.code = code


class VenueUnavailable(VenueError):
    """Temporary trouble: retry later."""


class VenueUnknownOutcome(VenueError):
    """The venue answered something unreadable: the outcome of a state-changing call is unknown."""


class VenueRejected(VenueError):
    """The venue refused this request; retrying will not change its mind."""


class VenueAuthError(VenueError):
    """Credentials, permissions or a suspended account: nothing works until an operator acts."""


class VenueSetupError(ConfigError):
    """A venue account is set up in a way carrybot does not trade (hedge position mode, keys that can withdraw...):
    start-up refuses it with a line saying what to change at the venue."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(f"{venue}: {message}")
        self.venue = venue


class SandboxUnavailable(ConfigError):
    """A sandbox was asked for on a venue that has none."""

    def __init__(self, venue: str) -> None:
        super().__init__(f"{venue} has no sandbox/testnet in ccxt; run paper mode instead")
        self.venue = venue
