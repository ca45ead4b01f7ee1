"""A live account's life around the bot: checked and set up before the first order (the run's opening equity from
the venues' balances), and read a last time before the books close."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.domain import Instrument, InstrumentKind
from bot.execution.executor import Executor
from bot.governor.rules_config import RulesConfig
from bot.settings import Settings
from bot.store.run import Persistence


async def prepare_live_accounts(
    settings: Settings,
    rules: RulesConfig,
    gateways: Mapping[str, Any],
    instruments: Mapping[str, Instrument],
    persistence: Persistence | None,
    apply: bool = True,
) -> Decimal:
    """Each live account checked and set up before the first order (``bot/venues/ccxt_setup.py``): one-way position
    mode, no withdrawal permission, margin mode and leverage, funds. Returns the run's opening equity: the venues'
    balances when the run began (recorded with the run, so a resumed run keeps its first figure)."""
    from bot.venues.ccxt_markets import venue_client_prefix
    from bot.venues.ccxt_setup import prepare_account

    prefix = f"r{persistence.run_id}-" if persistence is not None else ""
    equity = Decimal(0)
    for venue, gw in gateways.items():
        ours = sorted(i for i, inst in instruments.items() if inst.venue == venue)
        gw.traded = set(ours)
        gw.client_prefix = venue_client_prefix(prefix, venue) if prefix else ""
        perps = [i for i in ours if instruments[i].kind is InstrumentKind.PERP]
        margin_modes = dict(settings.paper.margin_modes) | {venue: settings.paper.margin_mode}
        report = await prepare_account(gw, perps, max(1, math.ceil(rules.g1.cap)), margin_modes, apply=apply)
        equity += Decimal(str(report.equity or 0))
    if persistence is None:
        return equity
    opening = await persistence.store.opening(persistence.run_id)
    if "equity" in opening:
        return Decimal(opening["equity"])
    await persistence.store.record_opening(persistence.run_id, {"equity": str(equity)})
    return equity


async def final_read(executor: Executor, market_gateways: Mapping[str, Any]) -> None:
    """A live run's last read of the venues before its books close (shutdown): fills and funding booked since the
    last poll, so the ledger ends where the venues' own records do. A venue that does not answer is logged; its
    records are read by the next start's reconciliation."""
    from bot.errors import VenueError
    from bot.logs import get_logger

    for venue, gw in market_gateways.items():
        try:
            await gw.poll_funding()  # the fills first, then the funding payments
        except VenueError as exc:
            get_logger(__name__).warning("live.final_read_failed", venue=venue, code=exc.code)
    executor.absorb()
