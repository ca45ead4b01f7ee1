"""The run report: ledger parts, the identity check against the venues' own accounts, and what the governor did.

Everything in it is a deterministic function of the inputs (two runs give the same report); wall-clock timing is
kept apart under ``timing``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from bot.backtest.metrics import performance
from bot.backtest.tables import monthly_returns, round_trip_rows
from bot.decisions import Decision
from bot.domain import NS_PER_SEC, SECS_PER_YEAR
from bot.governor.audit import note_intervention
from bot.settings import Settings, masked
from bot.version import code_version

if TYPE_CHECKING:
    from bot.backtest.observer import RunObserver


class Bot(Protocol):
    """The parts of an assembled bot a report reads (``bot.assembly.Bot``)."""

    settings: Settings
    rules: Any
    feed: Any
    instruments: dict[str, Any]
    venues: dict[str, Any]
    governor: Any
    audit: Any
    strategies: list[Any]
    ledger: Any
    executor: Any


def _iso(ts_ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).isoformat().replace("+00:00", "Z")


def interventions(decisions: Iterable[Decision]) -> dict[str, dict[str, int]]:
    """Interventions by rule over ``decisions`` (the audit keeps the same counts for the whole run)."""
    out: dict[str, Counter[str]] = {}
    for d in decisions:
        note_intervention(out, d)
    return {rule: dict(sorted(c.items())) for rule, c in sorted(out.items())}


def yardstick_of(bot: Bot, observer: RunObserver | None, equity_change: float, years: float) -> dict[str, Any] | None:
    """The honest yardstick (``bot.backtest.yardstick``) with the run's capital utilization and unhedged interval;
    ``None`` without bars to measure against (a scripted scenario) or without an observer."""
    from bot.backtest.yardstick import yardstick

    bars = getattr(bot.feed, "bars", None)
    if observer is None or bars is None:
        return None
    dep = observer.deployment
    active = bot.settings.strategy.active
    reverse = "s2" in active or bot.settings.borrow.enabled  # the reverse trade needs a borrow source
    out = yardstick(
        bars, bot.instruments, dep.mean("perp_notional"), dep.peak_pair_notional, equity_change, years, reverse
    )
    if out is None:
        return None
    equity = dep.mean("equity")
    st = bot.executor.stats
    return out | {
        "avg_equity_usd": equity,
        "avg_idle_usd": dep.mean("idle") if dep.known else None,
        "idle_usd_end": dep.last_idle_usd if dep.known else None,
        "utilization": 1 - dep.mean("idle") / equity if dep.known and equity > 0 else None,
        "return_on_notional_apr": equity_change / out["avg_perp_notional_usd"] / years
        if out["avg_perp_notional_usd"]
        else None,
        "unhedged_secs_max": st.unhedged_secs_max,
        "unhedged_secs_total": st.unhedged_secs_total,
        "unhedged_intervals": st.unhedged_intervals,
    }


def build_report(bot: Bot, observer: RunObserver | None = None, rf_annual: float = 0.0) -> dict[str, Any]:
    st = bot.executor.stats
    marks = bot.executor.marks
    parts = bot.ledger.parts(marks)
    venue_equity = sum((v.equity() for v in bot.venues.values()), Decimal(0))
    initial = bot.ledger.initial_equity
    residual = (venue_equity - initial) - parts.total
    start_ns, data_end_ns = bot.feed.ts_range_ns
    played_ns = observer.timeline.last_ts_ns if observer is not None and observer.timeline.last_ts_ns else None
    interrupted = bot.executor.stopped and played_ns is not None and played_ns < data_end_ns
    end_ns = played_ns if interrupted and played_ns is not None else data_end_ns  # an interrupted run: what it played
    years = max((end_ns - start_ns) / NS_PER_SEC / SECS_PER_YEAR, 1e-9)
    trips = observer.round_trips if observer is not None else []
    still_open = observer.open_round_trips(bot.executor) if observer is not None else []
    perf = performance(st.equity, float(initial), float(venue_equity), years, [t.pnl for t in trips], rf_annual)
    audit = bot.audit
    unreal = bot.ledger.unrealized_by_leg(marks)
    legs = {
        iid: {
            "qty": str(b.qty),
            "realized": str(b.realized),
            "unrealized": str(unreal.get(iid, Decimal(0))),
            "funding": str(bot.ledger.funding_by_leg.get(iid, Decimal(0))),
            "fees": str(bot.ledger.fees_by_leg.get(iid, Decimal(0))),
        }
        for iid, b in sorted(bot.ledger.legs.items())
    }
    return {
        "run": {
            "mode": "paper-replay",
            "code_version": code_version(),
            "data_version": bot.feed.data_version,
            "strategies": list(bot.settings.strategy.active),
            "synthetic_instruments": sorted(i.id for i in bot.instruments.values() if i.synthetic),
            "from": _iso(start_ns),
            "to": _iso(end_ns),
            "settings": masked(bot.settings),
            "interrupted": bool(interrupted),
            "data_to": _iso(data_end_ns),
            "rules": bot.rules.model_dump(mode="json"),
        },
        "equity": {
            "start": str(initial),
            "end": str(venue_equity),
            "change": str(venue_equity - initial),
            "total_return": perf["total_return"],
            "annualized_return": perf["annualized_return"],
            "max_drawdown": perf["max_drawdown"],
        },
        "performance": perf
        | {
            "open_round_trips": [
                {"venue": t.venue, "base": t.base, "opened": _iso(t.opened_ns), "pnl_usd": t.pnl} for t in still_open
            ]
        },
        "ledger": parts.as_dict() | {"identity_residual": str(residual)},
        "legs": legs,
        "counts": {
            "ticks": st.ticks,
            "snapshots": st.snapshots,
            "intents": st.intents,
            "orders_sent": st.orders_sent,
            "fills": st.fills,
            "funding_payments": st.funding_payments,
            "liquidations": st.liquidations,
            "entries_expired": st.entries_expired,
            "max_unhedged_usd": st.max_unhedged_usd,
            "tick_end_unhedged_max_usd": st.tick_end_unhedged_max,
            "ticks_unhedged": st.ticks_unhedged,
            "pairs": dict(sorted(bot.executor.pairs.transitions.items())),
            "venue_rejections": dict(sorted(st.rejections.items())),
            "rows_rejected": dict(sorted(bot.feed.rejected_rows.items())),
        },
        "governor": {
            "decisions_by_outcome": dict(sorted(audit.by_outcome.items())),
            "decisions_by_rule": {f"{r}:{o}": n for (r, o), n in sorted(audit.by_rule_outcome.items())},
            "interventions_by_rule": {r: dict(sorted(c.items())) for r, c in sorted(audit.interventions.items())},
            "hits_by_code": dict(sorted(audit.by_code.items())),
            "signals_unavailable": dict(sorted(audit.unavailable.items())),
            "ladder_events": len(audit.ladder_events),
            "final_state": bot.governor.trading_state.value,
            "transitions": [
                {
                    "ts": _iso(t.ts_ns),
                    "from": t.from_state.value,
                    "to": t.to_state.value,
                    "rule": t.rule,
                    "code": t.code.value if t.code else None,
                }
                for t in audit.transitions
            ],
        },
        "strategies": {s.name: dict(sorted(getattr(s, "stats", {}).items())) for s in bot.strategies},
        "yardstick": yardstick_of(bot, observer, float(venue_equity - initial), years),
        "monthly_returns": monthly_returns(st.equity),
        "round_trips": round_trip_rows(trips, still_open),
    }
