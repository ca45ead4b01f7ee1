"""The firm store: one PostgreSQL budget shared by every instance of a firm (tables ``firm_*``, migration 0005).

Every transaction takes one advisory lock of the firm first, and nothing else before it, so no two can wait on
each other (no deadlock): a **reservation** takes it exclusively — read the totals, check them (``firm_check``, pure),
write the reservation and its audit row, commit — so no two reservations interleave and none is lost under
``READ COMMITTED``; an instance's **report** (its exposure, what is left of its reservations, its equity, its lease)
takes it shared, so reports of different instances go together but never inside a reservation's check.

What counts against the budget: every instance's last reported exposure (at mark, kept after it dies: its
positions are still open) plus the remaining part of every active reservation of an instance whose lease is
current. Times are the server's clock (``clock_timestamp()``), the same for every pod.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from typing import Any

from bot.decisions import RuleHit
from bot.errors import ConfigError
from bot.firm.limits import FirmShare, FirmTotals, firm_check
from bot.governor.rules_config import FirmConfig

_LOCK_CLASS = 0x6366  # 'cf': the firm's advisory-lock namespace (the run lock uses 'cb')
_NOW = "SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000"


class FirmBudget:
    """One instance's connection to its firm's budget (async; PostgreSQL through asyncpg)."""

    def __init__(self, url: str, firm: str, bot_id: str, cfg: FirmConfig, holder: str = "") -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.firm, self.bot_id, self.cfg = firm, bot_id, cfg
        self.holder = holder[:128]
        self._engine = create_async_engine(url, pool_size=2, max_overflow=0, pool_pre_ping=True)
        self._key = zlib.crc32(f"firm:{firm}".encode()) & 0x7FFFFFFF
        self._lease_ns = int(cfg.lease_secs * 1e9)
        self.limits_sha = limits_fingerprint(cfg)

    def __repr__(self) -> str:  # never the URL: it carries the password
        return f"FirmBudget(firm={self.firm!r}, bot_id={self.bot_id!r})"

    async def close(self) -> None:
        await self._engine.dispose()

    # --- the transactions ----------------------------------------------------------------------------------------
    async def join(self) -> int:
        """Register (or re-register) this instance with a fresh lease; reservations a previous life of it left are
        expired (its recovery reconciles the orders; the next report says what it holds). Returns how many.

        Every instance checks entries against its own rules file's ``firm`` section: one whose limits differ from a
        live instance's is refused (``ConfigError`` naming them), or two desks would each enforce their own budget."""
        async with self._engine.begin() as conn:
            now = await self._lock(conn, shared=False)
            others = await self._exec(
                conn,
                "SELECT bot_id FROM firm_instances WHERE firm = :f AND bot_id <> :b AND lease_until_ns >= :now "
                "AND limits_sha <> :sha ORDER BY bot_id",
                now=now,
                sha=self.limits_sha,
            )
            differ = [r[0] for r in others.all()]
            if differ:
                raise ConfigError(
                    f"invalid rules firm: this instance's firm limits differ from those of {', '.join(differ)} "
                    f"(firm {self.firm!r}); every instance of a firm needs the same firm section"
                )
            await self._exec(
                conn,
                "INSERT INTO firm_instances (firm, bot_id, holder, limits_sha, joined_ns, lease_until_ns, equity_usd, "
                "day_start_equity_usd) VALUES (:f, :b, :h, :sha, :now, :lease, 0, 0) ON CONFLICT (firm, bot_id) "
                "DO UPDATE SET holder = :h, limits_sha = :sha, joined_ns = :now, lease_until_ns = :lease",
                h=self.holder,
                sha=self.limits_sha,
                now=now,
                lease=now + self._lease_ns,
            )
            return await self._end_own(conn, now, "expired", "restart")

    async def reserve(self, decision_id: str, share: FirmShare) -> tuple[RuleHit | None, FirmTotals]:
        """Reserve ``share`` for one entry, or say which firm limit refuses it (audited either way)."""
        async with self._engine.begin() as conn:
            now = await self._lock(conn, shared=False)
            await self._expire_dead(conn, now)
            await self._renew(conn, now)
            totals = await self._totals(conn, now)
            hit = firm_check(totals, share, self.cfg)
            numbers: dict[str, Any] = {
                "gross_by_asset": dict(share.gross_by_asset),
                "net_by_asset": dict(share.net_by_asset),
                "orders": share.orders,
                "firm_gross_usd": totals.gross_total,
                "firm_net_usd": totals.net_total,
            }
            if hit is not None:
                await self._audit(conn, now, "refused", decision_id, hit.code.value, numbers | dict(hit.inputs))
                return hit, totals
            first = True
            for asset in sorted(share.gross_by_asset):
                gross, net = share.gross_by_asset[asset], share.net_by_asset.get(asset, 0.0)
                await self._exec(
                    conn,
                    "INSERT INTO firm_reservations (firm, bot_id, decision_id, asset, gross_usd, net_usd, "
                    "remaining_gross_usd, remaining_net_usd, orders, status, created_ns) "
                    "VALUES (:f, :b, :d, :a, :g, :n, :g, :n, :o, 'active', :now)",
                    d=decision_id,
                    a=asset,
                    g=gross,
                    n=net,
                    o=share.orders if first else 0,
                    now=now,
                )
                first = False
            await self._audit(conn, now, "reserved", decision_id, None, numbers)
            return None, totals

    async def report(
        self,
        exposure: Mapping[str, tuple[float, float]],
        equity_usd: float,
        day_start_equity_usd: float,
        remaining: Mapping[str, FirmShare],
        finished: Mapping[str, bool],
    ) -> FirmTotals:
        """This instance's exposure per asset (gross, net at mark), its equity, what is left of each active
        reservation (``remaining``) and the reservations whose orders are done (``finished``: True if anything
        filled: converted, else released); renews the lease. Returns the firm's totals after it."""
        async with self._engine.begin() as conn:
            now = await self._lock(conn, shared=True)
            await self._exec(
                conn,
                "INSERT INTO firm_instances (firm, bot_id, holder, limits_sha, joined_ns, lease_until_ns, equity_usd, "
                "day_start_equity_usd) VALUES (:f, :b, :h, :sha, :now, :lease, :e, :s) ON CONFLICT (firm, bot_id) "
                "DO UPDATE SET lease_until_ns = :lease, equity_usd = :e, day_start_equity_usd = :s",
                h=self.holder,
                sha=self.limits_sha,
                now=now,
                lease=now + self._lease_ns,
                e=equity_usd,
                s=day_start_equity_usd,
            )
            await self._exec(conn, "DELETE FROM firm_exposure WHERE firm = :f AND bot_id = :b")
            for asset, (gross, net) in sorted(exposure.items()):
                if gross or net:
                    await self._exec(
                        conn,
                        "INSERT INTO firm_exposure (firm, bot_id, asset, gross_usd, net_usd, ts_ns) "
                        "VALUES (:f, :b, :a, :g, :n, :now)",
                        a=asset,
                        g=gross,
                        n=net,
                        now=now,
                    )
            for decision_id, share in remaining.items():
                await self._exec(
                    conn,
                    "UPDATE firm_reservations SET remaining_gross_usd = 0, remaining_net_usd = 0 "
                    "WHERE firm = :f AND bot_id = :b AND decision_id = :d AND status = 'active'",
                    d=decision_id,
                )
                for asset, gross in share.gross_by_asset.items():
                    await self._exec(
                        conn,
                        "UPDATE firm_reservations SET remaining_gross_usd = LEAST(gross_usd, :g), "
                        "remaining_net_usd = :n WHERE firm = :f AND bot_id = :b AND decision_id = :d "
                        "AND asset = :a AND status = 'active'",
                        d=decision_id,
                        a=asset,
                        g=gross,
                        n=share.net_by_asset.get(asset, 0.0),
                    )
            for decision_id, filled in finished.items():
                status = "converted" if filled else "released"
                rows = await self._exec(
                    conn,
                    "UPDATE firm_reservations SET status = :st, closed_ns = :now, remaining_gross_usd = 0, "
                    "remaining_net_usd = 0 WHERE firm = :f AND bot_id = :b AND decision_id = :d "
                    "AND status = 'active' RETURNING asset, gross_usd",
                    st=status,
                    now=now,
                    d=decision_id,
                )
                for asset, gross in rows.all():
                    await self._audit(conn, now, status, decision_id, None, {"asset": asset, "gross_usd": gross})
            return await self._totals(conn, now)

    async def leave(self) -> None:
        """A clean stop: whatever is still reserved is released and the lease ends now (the exposure stays: the
        positions are still open until someone closes them)."""
        async with self._engine.begin() as conn:
            now = await self._lock(conn, shared=True)
            await self._end_own(conn, now, "released", "shutdown")
            await self._exec(
                conn, "UPDATE firm_instances SET lease_until_ns = :now WHERE firm = :f AND bot_id = :b", now=now
            )

    async def totals(self) -> FirmTotals:
        """The firm's totals now (under the shared lock: never in the middle of a reservation)."""
        async with self._engine.begin() as conn:
            now = await self._lock(conn, shared=True)
            return await self._totals(conn, now)

    # --- pieces ----------------------------------------------------------------------------------------------------
    async def _exec(self, conn: Any, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        return await conn.execute(text(sql), {"f": self.firm, "b": self.bot_id} | params)

    async def _lock(self, conn: Any, shared: bool) -> int:
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self._exec(conn, f"SELECT {fn}(:cls, :key)", cls=_LOCK_CLASS, key=self._key)
        return int((await self._exec(conn, _NOW)).scalar_one())  # after the wait: the time the lock was had

    async def _end_own(self, conn: Any, now: int, status: str, code: str) -> int:
        """End every active reservation of this instance (audited); how many there were."""
        rows = await self._exec(
            conn,
            "UPDATE firm_reservations SET status = :st, closed_ns = :now, remaining_gross_usd = 0, "
            "remaining_net_usd = 0 WHERE firm = :f AND bot_id = :b AND status = 'active' "
            "RETURNING decision_id, asset, gross_usd",
            st=status,
            now=now,
        )
        ended = rows.all()
        for decision_id, asset, gross in ended:
            await self._audit(conn, now, status, decision_id, code, {"asset": asset, "gross_usd": gross})
        return len(ended)

    async def _renew(self, conn: Any, now: int) -> None:
        await self._exec(
            conn,
            "UPDATE firm_instances SET lease_until_ns = :lease WHERE firm = :f AND bot_id = :b",
            lease=now + self._lease_ns,
        )

    async def _expire_dead(self, conn: Any, now: int) -> None:
        """Reservations of instances whose lease ran out are expired (audited, once)."""
        rows = await self._exec(
            conn,
            "UPDATE firm_reservations r SET status = 'expired', closed_ns = :now FROM firm_instances i "
            "WHERE r.firm = :f AND r.status = 'active' AND i.firm = r.firm AND i.bot_id = r.bot_id "
            "AND i.lease_until_ns < :now RETURNING r.bot_id, r.decision_id, r.asset, r.remaining_gross_usd",
            now=now,
        )
        for bot_id, decision_id, asset, gross in rows.all():
            await self._exec(
                conn,
                "INSERT INTO firm_audit (firm, bot_id, decision_id, ts_ns, action, code, numbers) "
                "VALUES (:f, :owner, :d, :now, 'expired', 'lease', :numbers)",
                owner=bot_id,
                d=decision_id,
                now=now,
                numbers=_json({"asset": asset, "remaining_gross_usd": gross, "expired_by": self.bot_id}),
            )

    async def _totals(self, conn: Any, now: int) -> FirmTotals:
        rows = await self._exec(
            conn,
            "SELECT asset, SUM(g), SUM(n) FROM ("
            " SELECT asset, gross_usd AS g, net_usd AS n FROM firm_exposure WHERE firm = :f"
            " UNION ALL"
            " SELECT r.asset, r.remaining_gross_usd, r.remaining_net_usd FROM firm_reservations r"
            " JOIN firm_instances i ON i.firm = r.firm AND i.bot_id = r.bot_id"
            " WHERE r.firm = :f AND r.status = 'active' AND i.lease_until_ns >= :now"
            ") x GROUP BY asset",
            now=now,
        )
        gross: dict[str, float] = {}
        net: dict[str, float] = {}
        for asset, g, n in rows.all():
            gross[asset], net[asset] = float(g), float(n)
        inst = (
            await self._exec(
                conn,
                "SELECT COALESCE(SUM(CASE WHEN day_start_equity_usd > 0 THEN day_start_equity_usd - equity_usd "
                "ELSE 0 END), 0), COUNT(*) FILTER (WHERE lease_until_ns >= :now), "
                "COUNT(*) FILTER (WHERE lease_until_ns < :now) FROM firm_instances WHERE firm = :f",
                now=now,
            )
        ).one()
        orders = (
            await self._exec(
                conn,
                "SELECT COALESCE(SUM(orders), 0) FROM firm_reservations WHERE firm = :f AND created_ns >= :since",
                since=now - 60_000_000_000,
            )
        ).scalar_one()
        return FirmTotals(gross, net, float(inst[0]), int(orders), int(inst[1]), int(inst[2]))

    async def _audit(
        self, conn: Any, now: int, action: str, decision_id: str | None, code: str | None, numbers: dict[str, Any]
    ) -> None:
        await self._exec(
            conn,
            "INSERT INTO firm_audit (firm, bot_id, decision_id, ts_ns, action, code, numbers) "
            "VALUES (:f, :b, :d, :now, :action, :code, :numbers)",
            d=decision_id,
            now=now,
            action=action,
            code=code,
            numbers=_json(numbers),
        )


def limits_fingerprint(cfg: FirmConfig) -> str:
    """The firm limits as one hash (what instances of one firm must agree on)."""
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _json(numbers: Mapping[str, Any]) -> str:
    return json.dumps(numbers, sort_keys=True, default=str)
