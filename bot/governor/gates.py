"""Standing gates (issue 14 item 5): what the governor's standing state is certain to refuse to a new entry right
now, published to the strategies so that they do not re-propose, tick after tick, an entry that cannot pass.

Only state that refuses *whatever the intent's size or price* is a gate: the trading state (REDUCING or HALTED
refuse every entry, G8), the store being unable to write orders ahead (G6), a G3 ladder above stage 0 (the
account's refuses every entry, a base's refuses entries growing that base) and a venue's cool-off after repeated
rejections (G6), and G1 on a derivative whose leverage cap leaves the account no room at all. The governor still
checks every intent; a gate only saves the round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.decisions import DenyCode, TradingState
from bot.domain import Instrument
from bot.governor.context import AccountView, TickReads
from bot.governor.ladder import ACCOUNT, Ladders


@dataclass(frozen=True, slots=True)
class EntryGates:
    closed: str = ""  # why every entry is refused now ("" when none is)
    bases: Mapping[str, str] = field(default_factory=dict)  # base -> why entries growing it are refused
    venues: Mapping[str, str] = field(default_factory=dict)  # venue -> why entries there are refused
    instruments: Mapping[str, str] = field(default_factory=dict)  # instrument id -> why (G1: no leverage room)
    leverage_room_usd: Mapping[str, float] = field(default_factory=dict)  # G1: gross an entry on it may add

    def refuses(self, instruments: Iterable[Instrument]) -> str:
        """Why an entry on these instruments is certain to be refused ("" when it may pass)."""
        if self.closed:
            return self.closed
        for inst in instruments:
            why = self.bases.get(inst.base) or self.venues.get(inst.venue) or self.instruments.get(inst.id)
            if why:
                return why
        return ""


def leverage_room(account: AccountView, reads: TickReads | None, derivatives: Sequence[str]) -> dict[str, float]:
    """G1: the gross USD an entry on each derivative may still add (its cap × equity − the account's gross)."""
    if reads is None:
        return {}
    return {iid: reads.leverage(iid).max_leverage * account.equity - account.gross_total for iid in derivatives}


def entry_gates(
    state: TradingState,
    account: AccountView,
    ladders: Ladders,
    paused_until: Mapping[str, int],
    reads: TickReads | None,
    derivatives: Sequence[str],
    now_ns: int,
) -> EntryGates:
    """The gates from the governor's standing state (a pure function of it)."""
    closed = ""
    if state is not TradingState.ACTIVE:
        closed = f"state_{state.value}"
    elif not account.store_ok:
        closed = DenyCode.STORE_DOWN.value
    elif ladders.stage(ACCOUNT):
        closed = f"account_ladder_stage_{ladders.stage(ACCOUNT)}"
    bases = {k: f"ladder_stage_{ladders.stage(k)}" for k in ladders.keys() if k != ACCOUNT and ladders.stage(k)}
    venues = {v: DenyCode.VENUE_UNHEALTHY.value for v, until in paused_until.items() if now_ns < until}
    room = leverage_room(account, reads, derivatives) if not closed else {}
    full = {iid: DenyCode.LEVERAGE_CAP.value for iid, usd in room.items() if usd <= 0}
    return EntryGates(closed, bases, venues, full, room)
