"""The governor's durable state: what must survive a restart (trading state, peaks, ladder stages, leg timers, order
rate window, venue pauses), as JSON-ready data for the store, and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.decisions import DenyCode, TradingState

if TYPE_CHECKING:
    from bot.governor.engine import Governor


def export_state(gov: Governor) -> dict[str, Any]:
    st = gov.state
    return {"trading_state": st.trading_state.value, "cause": st.cause.value if st.cause else None,
            "peak_equity": st.peak_equity, "day": st.day, "day_start_equity": st.day_start_equity,
            "ladders": [[k, m, v] for (k, m), v in sorted(gov.ladders.stages.items())],
            "unhedged_since": dict(gov.unhedged_since), "completed": sorted(gov._completed),
            "recent": list(gov._recent), "venues_paused_until": gov.venue_health.export()}


def import_state(gov: Governor, data: dict[str, Any]) -> None:
    st = gov.state
    st.trading_state = TradingState(data["trading_state"])
    st.cause = DenyCode(data["cause"]) if data.get("cause") else None
    st.peak_equity, st.day, st.day_start_equity = data["peak_equity"], data["day"], data["day_start_equity"]
    gov.ladders.stages.clear()
    for key, measure, stage in data.get("ladders", []):
        gov.ladders.stages[(key, measure)] = stage
        gov.ladders._recompute(key)
    gov.unhedged_since = {k: int(v) for k, v in data.get("unhedged_since", {}).items()}
    gov._completed = set(data.get("completed", []))
    gov._recent.clear()
    gov._recent.extend(int(x) for x in data.get("recent", []))
    gov.venue_health.paused_until = {k: int(v) for k, v in data.get("venues_paused_until", {}).items()}
