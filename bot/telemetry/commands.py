"""Operator commands over MQTT, authenticated beyond the broker's own login (SPEC §5).

A command is JSON: ``{"cmd", "args", "ts", "nonce", "sig"}``. ``sig`` is HMAC-SHA256, hex, over the *canonical body* —
every other field, as JSON with sorted keys and no spaces — with a secret shared with the operator. A command is
acted upon only if it parses, has exactly these fields with valid values, carries a valid signature, was signed within
``max_age_secs`` of now, and its nonce has not been seen in that window. Anything else is rejected with a code, and
never acted upon.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COMMANDS = ("pause", "resume", "reduce", "halt", "flatten", "reload-rules", "status")
FIELDS = {"cmd", "args", "ts", "nonce", "sig"}


class Reject(StrEnum):
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_FIELDS = "unknown_fields"
    BAD_FIELD = "bad_field"
    UNKNOWN_COMMAND = "unknown_command"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED_NONCE = "replayed_nonce"


@dataclass(frozen=True, slots=True)
class Command:
    cmd: str
    args: dict[str, Any]
    ts_ms: int
    nonce: str


class CommandError(ValueError):
    def __init__(self, code: Reject, nonce: str | None = None) -> None:
        super().__init__(code.value)
        self.code = code
        self.nonce = nonce


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in body.items() if k != "sig"}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def sign(cmd: str, secret: bytes, ts_ms: int, args: dict[str, Any] | None = None, nonce: str | None = None) -> bytes:
    """An operator's signed command, ready to publish."""
    body: dict[str, Any] = {"cmd": cmd, "args": args or {}, "ts": ts_ms, "nonce": nonce or secrets.token_hex(12)}
    body["sig"] = hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()
    return json.dumps(body).encode()


class NonceWindow:
    """Nonces seen within the freshness window (bounded: at most ``limit`` remembered)."""

    def __init__(self, window_ms: int, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._window = window_ms
        self._limit = limit

    def check_and_add(self, nonce: str, now_ms: int) -> bool:
        horizon = now_ms - 2 * self._window
        while self._seen and (len(self._seen) > self._limit or next(iter(self._seen.values())) < horizon):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now_ms
        return True


class Verifier:
    def __init__(self, secret: bytes, max_age_secs: float = 30.0) -> None:
        if len(secret) < 16:
            raise ValueError("the command secret must be at least 16 bytes")
        self._secret = secret
        self._max_age_ms = int(max_age_secs * 1000)
        self._nonces = NonceWindow(self._max_age_ms)

    def verify(self, raw: bytes, now_ms: int) -> Command:
        """The command, or ``CommandError`` with a code. Checks run in this order; the nonce is remembered only for
        a command that passed every other check (so junk cannot burn an operator's nonce)."""
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise CommandError(Reject.MALFORMED_JSON) from None
        if not isinstance(body, dict):
            raise CommandError(Reject.MALFORMED_JSON)
        if set(body) != FIELDS:
            raise CommandError(Reject.UNKNOWN_FIELDS)
        cmd, args, ts, nonce, sig = body["cmd"], body["args"], body["ts"], body["nonce"], body["sig"]
        if not (isinstance(cmd, str) and isinstance(args, dict) and isinstance(ts, int) and not isinstance(ts, bool)
                and isinstance(nonce, str) and 8 <= len(nonce) <= 128 and isinstance(sig, str)):
            raise CommandError(Reject.BAD_FIELD)
        try:
            expected = hmac.new(self._secret, canonical(body), hashlib.sha256).hexdigest()
        except (TypeError, ValueError):
            raise CommandError(Reject.BAD_FIELD) from None
        if not hmac.compare_digest(expected, sig):
            raise CommandError(Reject.BAD_SIGNATURE)
        if cmd not in COMMANDS:
            raise CommandError(Reject.UNKNOWN_COMMAND, nonce)
        if abs(now_ms - ts) > self._max_age_ms:
            raise CommandError(Reject.STALE_TIMESTAMP, nonce)
        if not self._nonces.check_and_add(nonce, now_ms):
            raise CommandError(Reject.REPLAYED_NONCE, nonce)
        return Command(cmd, args, ts, nonce)
