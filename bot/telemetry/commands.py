"""Operator commands over MQTT, authenticated beyond the broker's own login (SPEC §5).

A command is JSON: ``{"cmd", "args", "ts", "nonce", "to", "sig"}``. ``sig`` is HMAC-SHA256, hex, over the *canonical
body* — every other field, as JSON with sorted keys and no spaces — with a secret shared with the operator. ``to``
names the addressee — a bot id, or ``firm`` for every instance (``carrybot/firm/cmd``) — so a command signed for one bot
cannot be replayed to another, nor a bot's command to the whole firm; a bot's own topic still takes a command
without ``to`` (signed before addressees existed), the firm's topic never does. A command is acted upon only if it
parses, has exactly these fields with valid values, carries a valid signature, is addressed to this topic, was signed
within ``max_age_secs`` of now, and its nonce has not been seen in that window. Anything else is rejected with a code,
and never acted upon.

Whatever arrives is bounded before it is parsed: at most ``MAX_PAYLOAD_BYTES`` and ``MAX_DEPTH`` levels of nesting
(the broker caps packets too: ``max_packet_size`` in ``deploy/mosquitto/mosquitto.conf``); ``sig`` must be 64 hex
digits. ``verify`` raises nothing but ``CommandError``: any input, however shaped, gets a code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.logs import get_logger

log = get_logger(__name__)
COMMANDS = ("pause", "resume", "reduce", "halt", "flatten", "reload-rules", "status")
FIRM = "firm"  # the addressee of commands to every instance (a bot id may not be "firm")
FIRM_COMMANDS = ("pause", "resume", "halt", "flatten", "status")  # what may be said to all instances at once
FIELDS = {"cmd", "args", "ts", "nonce", "sig"}
OPTIONAL = {"to"}
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_DEPTH = 8
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[A-Za-z0-9_.:-]{8,128}")


class Reject(StrEnum):
    MALFORMED_JSON = "malformed_json"
    TOO_LARGE = "too_large"
    UNKNOWN_FIELDS = "unknown_fields"
    BAD_FIELD = "bad_field"
    UNKNOWN_COMMAND = "unknown_command"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED_NONCE = "replayed_nonce"
    WRONG_ADDRESSEE = "wrong_addressee"
    NOT_FOR_FIRM = "not_for_firm"


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
    return json.dumps(
        {k: v for k, v in body.items() if k != "sig"}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def sign(
    cmd: str,
    secret: bytes,
    ts_ms: int,
    args: dict[str, Any] | None = None,
    nonce: str | None = None,
    to: str | None = None,
) -> bytes:
    """An operator's signed command, ready to publish (``to``: the bot id, or ``firm``)."""
    body: dict[str, Any] = {"cmd": cmd, "args": args or {}, "ts": ts_ms, "nonce": nonce or secrets.token_hex(12)}
    if to is not None:
        body["to"] = to
    body["sig"] = hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()
    return json.dumps(body).encode()


class NonceWindow:
    """Nonces seen within the freshness window (bounded: at most ``limit`` remembered), each with the time it was
    first seen. ``seed`` loads the ones a previous process saw (kept in the store), so a replay after a restart is
    refused too."""

    def __init__(self, window_ms: int, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._window = window_ms
        self._limit = limit

    @property
    def keep_ms(self) -> int:
        """How long a nonce must be remembered: a command is fresh for ±window around its timestamp."""
        return 2 * self._window

    def seed(self, seen: Mapping[str, int]) -> None:
        for nonce, at_ms in sorted(seen.items(), key=lambda kv: kv[1]):
            self._seen.setdefault(nonce, at_ms)

    def check_and_add(self, nonce: str, now_ms: int) -> bool:
        horizon = now_ms - self.keep_ms
        while self._seen and (len(self._seen) > self._limit or next(iter(self._seen.values())) < horizon):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now_ms
        return True


def _too_deep(obj: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            if d >= limit:
                return True
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            if d >= limit:
                return True
            stack.extend((v, d + 1) for v in o)
    return False


def _nesting(raw: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (checked on the bytes, before the parser recurses)."""
    depth = 0
    in_str = esc = False
    for ch in raw:
        if in_str:
            if esc:
                esc = False
            elif ch == 0x5C:  # backslash
                esc = True
            elif ch == 0x22:
                in_str = False
        elif ch == 0x22:
            in_str = True
        elif ch in (0x7B, 0x5B):
            depth += 1
            if depth > limit:
                return True
        elif ch in (0x7D, 0x5D):
            depth -= 1
    return False


class Verifier:
    def __init__(
        self, secret: bytes, max_age_secs: float = 30.0, not_before_ms: int | None = None, addressee: str | None = None
    ) -> None:
        """``not_before_ms``: refuse commands signed before this moment (a bot without a store to keep its nonces in
        sets it to its own start, so nothing captured before a restart can be replayed after it). ``addressee``: the
        bot id this verifier answers for, or ``firm`` (None: any ``to``, as before addressees)."""
        if len(secret) < 16:
            raise ValueError("the command secret must be at least 16 bytes")
        self._secret = secret
        self._max_age_ms = int(max_age_secs * 1000)
        self.nonces = NonceWindow(self._max_age_ms)
        self.not_before_ms = not_before_ms
        self.addressee = addressee

    def verify(self, raw: bytes, now_ms: int) -> Command:
        """The command, or ``CommandError`` with a code — for any input whatsoever. Checks run in this order; the
        nonce is remembered only for a command that passed every other check (so junk cannot burn a nonce)."""
        try:
            return self._verify(raw, now_ms)
        except CommandError:
            raise
        except Exception as exc:  # noqa: BLE001 - no input may escape as anything but a rejection
            log.error("mqtt.verify_failed", error=type(exc).__name__)
            raise CommandError(Reject.MALFORMED_JSON) from None

    def _verify(self, raw: bytes, now_ms: int) -> Command:
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise CommandError(Reject.TOO_LARGE)
        if _nesting(raw, MAX_DEPTH):
            raise CommandError(Reject.MALFORMED_JSON)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise CommandError(Reject.MALFORMED_JSON) from None
        if not isinstance(body, dict) or _too_deep(body, MAX_DEPTH):
            raise CommandError(Reject.MALFORMED_JSON)
        if not FIELDS <= set(body) <= FIELDS | OPTIONAL:
            raise CommandError(Reject.UNKNOWN_FIELDS)
        cmd, args, ts, nonce, sig = body["cmd"], body["args"], body["ts"], body["nonce"], body["sig"]
        to = body.get("to")
        if not (
            isinstance(cmd, str)
            and isinstance(args, dict)
            and isinstance(ts, int)
            and not isinstance(ts, bool)
            and isinstance(nonce, str)
            and _NONCE.fullmatch(nonce)
            and isinstance(sig, str)
            and _HEX64.fullmatch(sig)
            and (to is None or (isinstance(to, str) and len(to) <= 64))
        ):
            raise CommandError(Reject.BAD_FIELD)
        try:
            expected = hmac.new(self._secret, canonical(body), hashlib.sha256).hexdigest()
        except (TypeError, ValueError):
            raise CommandError(Reject.BAD_FIELD) from None
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise CommandError(Reject.BAD_SIGNATURE)
        if cmd not in COMMANDS:
            raise CommandError(Reject.UNKNOWN_COMMAND, nonce)
        if self.addressee is not None and to != self.addressee and not (to is None and self.addressee != FIRM):
            raise CommandError(Reject.WRONG_ADDRESSEE, nonce)
        if self.addressee == FIRM and cmd not in FIRM_COMMANDS:
            raise CommandError(Reject.NOT_FOR_FIRM, nonce)
        if abs(now_ms - ts) > self._max_age_ms or (self.not_before_ms is not None and ts < self.not_before_ms):
            raise CommandError(Reject.STALE_TIMESTAMP, nonce)
        if not self.nonces.check_and_add(nonce, now_ms):
            raise CommandError(Reject.REPLAYED_NONCE, nonce)
        return Command(cmd, args, ts, nonce)
