"""Standing gates (issue 14 item 5): what the governor's standing state is certain to refuse to a new entry right
now, published to the strategies so that they do not re-propose, tick after tick, an entry that cannot pass.

Only state that refuses *whatever the intent's size or price* is a gate: the trading state (REDUCING or HALTED
refuse every entry, G8), the store being unable to write orders ahead (G6), a G3 ladder above stage 0 (the
account's refuses every entry, a base's refuses entries growing that base) and a venue's cool-off after repeated
rejections (G6), and G1 on a derivative whose leverage cap leaves the account no room at all. The governor still
checks every intent; a gate only saves the round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain import Instrument


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
