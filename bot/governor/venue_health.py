"""G6 venue health: a venue that keeps rejecting orders (insufficient funds, invalid orders, exchange errors) is
not sent new entries for a while. ``venue_reject_limit`` rejections within ``venue_reject_window_secs`` pause entries
on that venue until ``venue_cooloff_secs`` after the last one; risk-reducing orders still go (they pass the governor
too, which lets them). The executor tells the governor of each rejection; the rule itself only reads that record."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.decisions import DenyCode, RuleHit, RuleId
from bot.domain import NS_PER_SEC
from bot.governor.context import CheckContext
from bot.governor.rules_config import G6Config


@dataclass(slots=True)
class VenueHealthBook:
    rejects: dict[str, deque[int]] = field(default_factory=dict)
    paused_until: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def rejected(self, venue: str, reason: str, now_ns: int, cfg: G6Config) -> bool:
        """Record one rejection; True when it (re)starts a pause."""
        window = int(cfg.venue_reject_window_secs * NS_PER_SEC)
        dq = self.rejects.setdefault(venue, deque())
        dq.append(now_ns)
        while dq and dq[0] <= now_ns - window:
            dq.popleft()
        self.reasons[venue] = reason
        if len(dq) >= cfg.venue_reject_limit:
            self.paused_until[venue] = now_ns + int(cfg.venue_cooloff_secs * NS_PER_SEC)
            return True
        return False

    def export(self) -> dict[str, int]:
        return dict(self.paused_until)

    def restore(self, paused_until: Mapping[str, int]) -> None:
        self.paused_until = {k: int(v) for k, v in paused_until.items()}


class VenueHealth:
    rule_id = RuleId.G6
    relative = False

    def __init__(self, cfg: G6Config, book: VenueHealthBook) -> None:
        self.cfg = cfg
        self.book = book

    def check(self, ctx: CheckContext) -> RuleHit | None:
        paused = self.book.paused_until
        if not paused:
            return None
        for leg in ctx.legs:
            venue = leg.instrument.venue
            until = paused.get(venue)
            if until is not None and ctx.now_ns < until:
                return RuleHit(
                    self.rule_id,
                    DenyCode.VENUE_UNHEALTHY,
                    0.0,
                    {
                        "venue": venue,
                        "rejections": len(self.book.rejects.get(venue, ())),
                        "last_reason": self.book.reasons.get(venue, ""),
                        "paused_secs_left": (until - ctx.now_ns) / NS_PER_SEC,
                    },
                )
        return None
