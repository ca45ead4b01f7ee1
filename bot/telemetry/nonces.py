"""Operator command nonces kept in the store, so that a command captured before a restart is refused after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

_NS_PER_MS = 1_000_000


class _NonceRows(Protocol):
    async def command_nonces(self, bot_id: str, now_ns: int) -> dict[str, int]: ...

    async def add_command_nonce(self, bot_id: str, nonce: str, seen_ns: int, expires_ns: int) -> None: ...


class StoredNonces:
    """The bridge's ``NonceStore`` over the bot's store (``bot.store.Store``), one bot id's rows."""

    def __init__(self, store: _NonceRows, bot_id: str) -> None:
        self._store = store
        self._bot_id = bot_id

    async def load(self, now_ms: int) -> Mapping[str, int]:
        rows = await self._store.command_nonces(self._bot_id, now_ms * _NS_PER_MS)
        return {n: seen // _NS_PER_MS for n, seen in rows.items()}

    async def add(self, nonce: str, seen_ms: int, expires_ms: int) -> None:
        await self._store.add_command_nonce(self._bot_id, nonce, seen_ms * _NS_PER_MS, expires_ms * _NS_PER_MS)
