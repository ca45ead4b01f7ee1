"""Price guard: a print that jumps beyond a bound never becomes a mark until it is confirmed (issue: fail safe).

Every batch passes through ``PriceGuard.screen`` before anything — paper venue, ledger, governor, strategy — sees it
(the executor does it, so replay, paper on live data, live trading and scenarios share it). A snapshot is
*suspect* when its mark (or its mid) is

- more than ``guard_jump_pct`` away from the instrument's last trusted mark (its own recent history), or
- more than ``guard_cross_pct`` away from most of its peers — the same asset of the same kind on the other venues
  and the other kinds on its own venue (this batch's prints where they are no jump off their own history, else
  their last trusted mark): fewer than half of them agree with it.

A suspect snapshot is passed on *sanitized*: its prices are the last trusted ones, its bar range is dropped, its
funding fields are kept (a settlement still happens: the venue pays it at its own mark), and ``suspect`` is set, so
the governor refuses every order on it and nothing is marked, matched or liquidated at the broken print. A jump is
confirmed as the new level when ``guard_confirm_prints`` consecutive prints agree with one another within
``guard_cross_pct`` and no other source contradicts them; a print that disagrees with the same asset elsewhere stays
suspect while the disagreement lasts. A first print with nothing trusted to stand in for it is withheld.

A trusted snapshot's range (the bar that just finished) is dropped too when it reaches beyond the jump bound
around the prices either side of it: the bar after a spike carries the spike in its range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from statistics import median

from bot.domain import Instrument, MarketBatch, MarketSnapshot
from bot.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class GuardBounds:
    jump_pct: float = 0.5
    cross_pct: float = 0.15
    confirm_prints: int = 2


@dataclass(frozen=True, slots=True)
class SuspectPrint:
    """One flagged print, for logs, metrics and tests."""

    instrument_id: str
    ts_ns: int
    price: float
    trusted: float | None
    reference: float | None
    reason: str  # "jump" | "cross"


def _far(a: float, b: float, pct: float) -> bool:
    lo, hi = (a, b) if a < b else (b, a)
    return not (lo > 0.0 and hi <= lo * (1.0 + pct))


class PriceGuard:
    def __init__(self, instruments: Mapping[str, Instrument], bounds: GuardBounds | None = None) -> None:
        self.bounds = bounds or GuardBounds()
        # peers: the same asset of the same kind on the other venues, and the other kinds on the same venue (a perp
        # may trade at a basis to spot; perps elsewhere are its closest witnesses)
        self._peers: dict[str, tuple[str, ...]] = {}
        for iid, a in instruments.items():
            self._peers[iid] = tuple(
                j
                for j, b in instruments.items()
                if j != iid
                and b.base == a.base
                and ((b.venue != a.venue and b.is_derivative == a.is_derivative) or b.venue == a.venue)
            )
        self.trusted: dict[str, MarketSnapshot] = {}
        self._pending: dict[str, list[float]] = {}
        self.flagged = 0
        self.confirmed = 0
        self.recent: list[SuspectPrint] = []  # flagged since the caller last took them (``take_flagged``)

    def take_flagged(self) -> list[SuspectPrint]:
        out, self.recent = self.recent, []
        return out

    def screen(self, batch: MarketBatch) -> MarketBatch:
        """The batch as the bot may use it: suspect prints sanitized (or withheld), wild ranges dropped."""
        snaps = batch.snapshots
        jump = self.bounds.jump_pct
        trusted = self.trusted
        # what each instrument says this tick, as a peer: its print if that print is no jump off its own history,
        # else its last trusted mark (two broken prints must not outvote the rest)
        peer_px: dict[str, float] = {}
        for s in snaps:
            last = trusted.get(s.instrument_id)
            if last is None or not _far(s.mark, last.mark, jump):
                peer_px[s.instrument_id] = s.mark
            else:
                peer_px[s.instrument_id] = last.mark
        out: list[MarketSnapshot] = []
        changed = False
        for s in snaps:
            kept = self._screen_one(s, peer_px)
            if kept is not s:
                changed = True
            if kept is not None:
                out.append(kept)
        return MarketBatch(batch.ts_ns, tuple(out)) if changed else batch

    def _screen_one(self, s: MarketSnapshot, peer_px: Mapping[str, float]) -> MarketSnapshot | None:
        b = self.bounds
        iid = s.instrument_id
        px = s.mark
        last = self.trusted.get(iid)
        own = last.mark if last is not None else None
        trusted = self.trusted
        others = [
            peer_px[j] if j in peer_px else trusted[j].mark
            for j in self._peers.get(iid, ())
            if j in peer_px or j in trusted
        ]
        # the same asset elsewhere: a print is contradicted when fewer than half of the other sources agree with it
        cross = b.cross_pct
        agree = 0
        for o in others:
            if not _far(px, o, cross):
                agree += 1
        cross_bad = 2 * agree < len(others)
        jump_bad = own is not None and _far(px, own, b.jump_pct)
        mid_bad = _far(s.mid, px, cross) if s.bid > 0 and s.ask > 0 else True
        if not (cross_bad or jump_bad or mid_bad):
            if self._pending:
                self._pending.pop(iid, None)
            return self._trust(s, own)
        pending = self._pending.setdefault(iid, [])
        pending.append(px)
        if (
            not cross_bad
            and not mid_bad
            and len(pending) >= b.confirm_prints
            and not _far(min(pending), max(pending), b.cross_pct)
        ):
            self._pending.pop(iid, None)
            self.confirmed += 1
            log.warning("feed.price_confirmed", instrument=iid, price=px, previous=own, prints=len(pending))
            return self._trust(s, None)
        reason = "cross" if cross_bad else "jump" if jump_bad else "book"
        ref = median(others) if others else None  # the peers' level, said with a flagged print
        self.flagged += 1
        flag = SuspectPrint(iid, s.ts_ns, px, own, ref, reason)
        self.recent.append(flag)
        log.warning("feed.price_suspect", instrument=iid, price=px, trusted=own, reference=ref, reason=reason)
        if last is None:
            return None
        return replace(
            s,
            bid=last.bid,
            ask=last.ask,
            last=last.last,
            mark=last.mark,
            index=last.index,
            range_high=None,
            range_low=None,
            suspect=True,
        )

    def _trust(self, s: MarketSnapshot, own: float | None) -> MarketSnapshot:
        if s.index is not None and s.ts_expiry_ns is None and _far(s.index, s.mark, self.bounds.cross_pct):
            last = self.trusted.get(s.instrument_id)  # a perp's index is another instrument's print: screen it too
            s = replace(s, index=last.index if last is not None else None)
        hi, lo = s.range_high, s.range_low
        if hi is not None and lo is not None:
            top = max(s.mark, own) if own is not None else s.mark
            bottom = min(s.mark, own) if own is not None else s.mark
            jump = 1.0 + self.bounds.jump_pct
            if hi > top * jump or lo * jump < bottom:
                s = replace(s, range_high=None, range_low=None)
        self.trusted[s.instrument_id] = s
        return s
