"""The scenarios and what the governor must do in each. Each check is stated before the run, from the rules."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, MarketBatch, Origin, Purpose
from bot.governor.rules_config import RulesConfig
from bot.scenarios.paths import HOUR, PERP, Bar, ramp, to_batches, warmup, with_
from bot.scenarios.runner import ScenarioRun


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    start: datetime
    bars: Callable[[], list[Bar]]
    checks: Callable[[ScenarioRun, int], list[Check]]  # (run, index of the first stress bar)
    stress_at: int
    settings: dict[str, object] | None = None
    rules: dict[str, dict[str, object]] | None = None  # rule sections' fields overridden: {"g2": {...}}

    def rules_for(self, base: RulesConfig) -> RulesConfig:
        """``base`` with this scenario's rule overrides (validated like a rules file)."""
        if not self.rules:
            return base
        raw = base.model_dump()
        for section, fields in self.rules.items():
            raw[section] = raw[section] | fields
        return RulesConfig.model_validate(raw)

    def batches(self) -> list[MarketBatch]:
        return to_batches(self.bars(), int(self.start.timestamp()))

    def stress_ns(self) -> int:
        return int(self.start.timestamp() + self.stress_at * HOUR) * NS_PER_SEC


WARM = 72  # three days of calm, rich funding: S1 enters on both venues


def _entries(run: ScenarioRun, approved_only: bool = True) -> list:  # type: ignore[type-arg]
    return [
        d
        for d in run.bot.audit.decisions
        if d.intent.origin is Origin.STRATEGY
        and d.intent.purpose is Purpose.ENTRY
        and (not approved_only or d.outcome is not Outcome.REJECT)
    ]


def _positions_before(run: ScenarioRun, ts_ns: int) -> float:
    """Gross exposure at the end of the last tick before ``ts_ns``."""
    tl = run.observer.timeline
    i = bisect.bisect_left(tl.ts_ns, ts_ns) - 1
    return tl.gross_usd[i] if i >= 0 else 0.0


def _common(run: ScenarioRun, t0: int) -> list[Check]:
    r = run.report
    entered = _positions_before(run, t0)
    return [
        Check("the book was on before the stress", entered > 10_000, f"gross {entered:,.0f} USD at the stress start"),
        Check("no liquidation", r["counts"]["liquidations"] == 0, f"{r['counts']['liquidations']} liquidations"),
        Check(
            "ledger identity holds",
            abs(float(r["ledger"]["identity_residual"])) < 1e-6,
            f"residual {r['ledger']['identity_residual']}",
        ),
        Check(
            "no tick ended with delta above the G9 limit",
            r["counts"]["ticks_unhedged"] == 0,
            f"{r['counts']['ticks_unhedged']} ticks; worst {r['counts']['tick_end_unhedged_max_usd']:,.0f} USD",
        ),
    ]


# --- liquidation cascade -------------------------------------------------------------------------------------------
def cascade_bars() -> list[Bar]:
    calm = warmup(WARM)
    p0 = calm[-1].price

    def bar(t: float) -> Bar:
        # 30 hours: price −22% (falling fastest early), open interest −25%, funding first extreme on crowded longs
        # then flipping to −0.08%, 25-delta skew +15 vol points, long liquidations clustering at 8× their baseline
        k = round(t * 30)
        return Bar(
            p0 * (1 - 0.22 * t**0.8),
            funding=0.0006 if t < 0.5 else 0.0006 - 0.0028 * (t - 0.5),
            oi=1e9 * (1 - 0.25 * t),
            liq_long_usd=8e6 if k % 2 else 1.5e6,
            skew=0.02 + 0.15 * min(1.0, 3 * t),
            range_pct=0.004 + 0.01 * t,
        )

    crash = ramp(30, bar)
    after = [with_(crash[-1], liq_long_usd=2e6, range_pct=0.004) for _ in range(18)]
    return calm + crash + after


def cascade_checks(run: ScenarioRun, t0: int) -> list[Check]:
    ev = run.bot.audit.ladder_events
    derisk = [e for e in ev if e.to_stage == 3 and e.ts_ns >= t0]
    liqs = [f.ts_ns for f in run.bot.executor.stats.fills_log if f.is_liquidation]
    first_derisk = derisk[0].ts_ns if derisk else None
    closed = [
        d
        for d in run.bot.audit.decisions
        if d.intent.origin is Origin.GOVERNOR
        and d.intent.intent_id.startswith("gov-derisk")
        and d.outcome is not Outcome.REJECT
    ]
    tl = run.observer.timeline
    stage_at = dict(zip(tl.ts_ns, tl.ladder_stage, strict=True))
    ticks = sorted(stage_at)
    # an entry after the de-risk is allowed only once the crowding measure has recovered past the hysteresis band
    late_entries = [
        d
        for d in _entries(run)
        if d.ts_ns >= (first_derisk or t0) and stage_at[ticks[bisect.bisect_right(ticks, d.ts_ns) - 1]] > 0
    ]
    gross_end = run.observer.timeline.gross_usd[-1]
    return _common(run, t0) + [
        Check(
            "the ladder reaches de-risk (stage 3) during the cascade",
            bool(derisk),
            f"first stage 3 at {_ts(first_derisk)} on {derisk[0].measure if derisk else '-'}",
        ),
        Check(
            "de-risk comes before any liquidation",
            not liqs or (first_derisk is not None and first_derisk < liqs[0]),
            f"{len(liqs)} liquidations",
        ),
        Check("the governor closes the book through the door", bool(closed), f"{len(closed)} de-risk intents approved"),
        Check(
            "no re-entry until the crowding ladder has recovered past its hysteresis band",
            not late_entries,
            f"{len(late_entries)} entries approved while a ladder stage was held",
        ),
        Check("flat at the end", gross_end < 1_000, f"gross {gross_end:,.0f} USD"),
    ]


# --- funding regime flip -------------------------------------------------------------------------------------------
def flip_bars() -> list[Bar]:
    calm = warmup(WARM)
    return calm + [with_(b, funding=-0.0004) for b in warmup(72, calm[-1].price)]


def flip_checks(run: ScenarioRun, t0: int) -> list[Check]:
    exits = [
        d
        for d in run.bot.audit.decisions
        if d.intent.origin is Origin.STRATEGY
        and d.intent.purpose is not Purpose.ENTRY
        and d.ts_ns >= t0
        and d.outcome is not Outcome.REJECT
    ]
    paid = [p for p in run.bot.executor.stats.funding_log if p.ts_ns >= t0 and p.amount < 0]
    settlements_paid = len({p.ts_ns for p in paid})
    late_entries = [d for d in _entries(run) if d.ts_ns >= t0]
    gross_end = run.observer.timeline.gross_usd[-1]
    return _common(run, t0) + [
        Check(
            "the strategy exits after the flip, approved by the governor",
            bool(exits),
            f"{len(exits)} exits approved, first at {_ts(exits[0].ts_ns) if exits else '-'}",
        ),
        Check(
            "funding paid on the wrong side for at most 3 settlements",
            settlements_paid <= 3,
            f"{settlements_paid} settlements paid, {sum(float(p.amount) for p in paid):,.2f} USDT",
        ),
        Check("no entry while funding is negative", not late_entries, f"{len(late_entries)} entries"),
        Check("flat at the end", gross_end < 1_000, f"gross {gross_end:,.0f} USD"),
    ]


# --- expiry week ---------------------------------------------------------------------------------------------------
EXPIRY_START = datetime(2024, 6, 24, tzinfo=UTC)  # quarterly finals 2024-06-28: venues 08:00 UTC, CME 15:00 UTC


def expiry_bars() -> list[Bar]:
    """Binance funding is rich all along (S1 enters in the final week, before the blackout); Bybit's turns rich only
    on 06-26, inside the 48 h blackout, and stays rich past the expiry."""
    bars = warmup(24 * 6)
    for k, b in enumerate(bars):
        if k < 56:  # until 2024-06-26 08:00
            b.funding_by_venue = {"bybit": 0.00002}
    return bars


def expiry_checks(run: ScenarioRun, t0: int) -> list[Check]:
    cal = run.bot.governor.calendar
    blackout = [ts for ts in run.ticks_ns if cal.phase(ts).in_blackout]
    b0, b1 = (blackout[0], blackout[-1]) if blackout else (0, 0)
    inside = [
        d for d in _entries(run) if b0 <= d.ts_ns <= b1 and any(o.instrument_id in PERP.values() for o in d.orders)
    ]
    denied = [d for d in run.bot.audit.decisions if any(h.code is DenyCode.EXPIRY_BLACKOUT for h in d.hits)]
    before = [d for d in _entries(run) if d.ts_ns < b0]
    after = [d for d in _entries(run) if d.ts_ns > b1]
    fw = [d for d in before if any(h.code is DenyCode.EXPIRY_FINAL_WEEK for h in d.hits) and d.scale < 1]
    r = run.report
    return [
        Check(
            "the path crosses a 48 h blackout",
            len(blackout) >= 40,
            f"blackout {_ts(b0)} → {_ts(b1)} ({len(blackout)} hourly ticks)",
        ),
        Check("no new leveraged position inside the blackout", not inside, f"{len(inside)} approved"),
        Check("entries inside the blackout are refused by G4", bool(denied), f"{len(denied)} G4 expiry_blackout"),
        Check(
            "final-week entries before the blackout are sized down",
            bool(before) and len(fw) == len(before),
            f"{len(fw)} G4 final-week resizes, {len(before)} entries before the blackout",
        ),
        Check("entries resume after the expiry", bool(after), f"{len(after)} entries approved after {_ts(b1)}"),
        Check("no liquidation", r["counts"]["liquidations"] == 0, f"{r['counts']['liquidations']} liquidations"),
    ]


# --- exchange outage / stale feed ----------------------------------------------------------------------------------
def outage_bars() -> list[Bar]:
    """Funding turns rich at hour 24. Bybit is healthy; Binance's perpetual feed is silent for 12 h (outage), then
    lags 2 h for 12 h (stale: its snapshots, settlements included, arrive with old time stamps), then recovers."""
    quiet = warmup(24, funding=0.00005)
    rich = warmup(72, quiet[-1].price)
    for k, b in enumerate(rich):
        if k < 12:
            b.down = {PERP["binance"]}
        elif k < 24:
            b.lag_hours = {PERP["binance"]: 2}
    return quiet + rich


def outage_checks(run: ScenarioRun, t0: int) -> list[Check]:
    t1 = t0 + 24 * HOUR * NS_PER_SEC
    bn = PERP["binance"]

    def on_binance(d) -> bool:  # type: ignore[no-untyped-def]
        return any(leg.instrument_id == bn for leg in d.intent.legs)

    stale_entries = [d for d in _entries(run) if t0 <= d.ts_ns < t1 and on_binance(d)]
    refused = [
        d
        for d in run.bot.audit.decisions
        if t0 <= d.ts_ns < t1
        and on_binance(d)
        and any(h.code in (DenyCode.STALE_SNAPSHOT, DenyCode.FUNDING_STALE) for h in d.hits)
    ]
    healthy = [d for d in _entries(run) if t0 <= d.ts_ns < t1 and not on_binance(d)]
    after = [d for d in _entries(run) if d.ts_ns >= t1 and on_binance(d)]
    r = run.report
    return [
        Check(
            "no entry on the venue whose feed is down or stale",
            not stale_entries,
            f"{len(stale_entries)} approved on Binance in the outage",
        ),
        Check(
            "entries attempted on stale data are refused by G6",
            bool(refused),
            f"{len(refused)} refused ({', '.join(sorted({h.code.value for d in refused for h in d.hits}))})",
        ),
        Check("the healthy venue trades on", bool(healthy), f"{len(healthy)} Bybit entries approved"),
        Check("trading resumes once the feed is back", bool(after), f"{len(after)} Binance entries approved after"),
        Check("no liquidation", r["counts"]["liquidations"] == 0, f"{r['counts']['liquidations']} liquidations"),
        Check(
            "no tick ended with delta above the G9 limit",
            r["counts"]["ticks_unhedged"] == 0,
            f"{r['counts']['ticks_unhedged']} ticks",
        ),
    ]


# --- gap move against one leg --------------------------------------------------------------------------------------
def gap_bars() -> list[Bar]:
    calm = warmup(WARM)
    p0 = calm[-1].price
    gap = [Bar(p0, perp_premium=0.22)]  # the short perps gap up 22% over spot in one bar
    return calm + gap + [Bar(p0, perp_premium=0.22 - 0.01 * k) for k in range(1, 23)]


def gap_checks(run: ScenarioRun, t0: int) -> list[Check]:
    ev = [e for e in run.bot.audit.ladder_events if e.ts_ns >= t0 and e.measure == "liq_distance"]
    top = max((e.to_stage for e in ev), default=0)
    acted = [
        d
        for d in run.bot.audit.decisions
        if d.intent.origin is Origin.GOVERNOR and d.ts_ns >= t0 and d.outcome is not Outcome.REJECT
    ]
    first = min((d.ts_ns for d in acted), default=None)
    return _common(run, t0) + [
        Check("the gap takes the liquidation-distance ladder to de-risk", top == 3, f"highest stage {top}"),
        Check("the governor acts on the gap tick itself", first == t0, f"first action at {_ts(first)}"),
        Check(
            "no governor intent is refused (one close, not a trim and a close that over-closes)",
            not [
                d for d in run.bot.audit.decisions if d.intent.origin is Origin.GOVERNOR and d.outcome is Outcome.REJECT
            ],
            f"{len(acted)} governor intents approved",
        ),
    ]


# --- a threefold rally of a hedged book -------------------------------------------------------------------------------
RALLY_HOURS = 30 * 24


def rally_bars() -> list[Bar]:
    calm = warmup(WARM)
    p0 = calm[-1].price
    return calm + ramp(RALLY_HOURS, lambda t: Bar(p0 * 3.0**t, 0.0003))  # spot and perps together, funding rich


def rally_checks(run: ScenarioRun, t0: int) -> list[Check]:
    audit = run.bot.audit
    acted = [d for d in audit.decisions if d.intent.origin is Origin.GOVERNOR and d.ts_ns >= t0]
    liq = [e for e in audit.ladder_events if e.measure == "liq_distance" and e.to_stage > 0]
    done = [t for t in audit.transfers if t.status.value == "done"]
    refused = [t for t in audit.transfers if t.status.value != "done"]
    gross_end = run.observer.timeline.gross_usd[-1]
    entered = _positions_before(run, t0)
    return _common(run, t0) + [
        Check("no trim, hedge or close of the hedged book", not acted, f"{len(acted)} governor intents"),
        Check("the liquidation-distance ladder never leaves stage 0", not liq, f"{len(liq)} ladder moves"),
        Check(
            "idle collateral moved to the perp legs (split account)",
            bool(done) and not refused,
            f"{len(done)} transfers, {sum(float(t.amount) for t in done):,.0f} USDT; {len(refused)} refused",
        ),
        Check(
            "the book rode the rally whole",
            gross_end > 2.8 * entered,
            f"gross {entered:,.0f} -> {gross_end:,.0f} USD",
        ),
        Check(
            "the transfers are in the timeline",
            sum(1 for e in run.timeline if e.kind == "transfer") == len(audit.transfer_decisions) > 0,
            f"{len(audit.transfer_decisions)} transfer decisions",
        ),
    ]


# --- a broken print ----------------------------------------------------------------------------------------------
def bad_print_bars() -> list[Bar]:
    calm = warmup(WARM)
    p0 = calm[-1].price
    spot, perp = "binance:BTC/USDT", PERP["binance"]
    return (
        calm
        + [Bar(p0, spike={perp: 1000.0})]
        + warmup(12, p0)
        + [Bar(p0, spike={perp: 1000.0, spot: 1000.0})]
        + warmup(12, p0)
        + [Bar(p0, spike={perp: 0.001})]
        + warmup(12, p0)
    )


def bad_print_checks(run: ScenarioRun, t0: int) -> list[Check]:
    r = run.report
    before = run.observer.timeline
    i = bisect.bisect_left(before.ts_ns, t0) - 1
    eq0 = before.equity[i] if i >= 0 else float(r["equity"]["start"])
    eq1 = float(r["equity"]["end"])
    top = max((float(f.price) for f in run.bot.executor.stats.fills_log if f.ts_ns >= t0), default=0.0)
    low = min((float(f.price) for f in run.bot.executor.stats.fills_log if f.ts_ns >= t0), default=1e18)
    states = [t.to_state.value for t in run.bot.audit.transitions if t.ts_ns >= t0]
    flagged = run.bot.executor.stats.suspect_prints
    return _common(run, t0) + [
        Check("every broken print is held back by the guard", flagged >= 4, f"{flagged} prints flagged"),
        Check(
            "no fill at a broken price (BTC ~60,000)",
            top < 70_000 and low > 50_000,
            f"fills after the first print between {low:,.0f} and {top:,.0f}" if top else "no fills after it",
        ),
        Check("no state change on a broken print", not states, f"transitions: {states or 'none'}"),
        Check(
            "equity moves as the carry does, not the print",
            abs(eq1 - eq0) < 0.005 * eq0,
            f"equity {eq0:,.2f} → {eq1:,.2f} USD",
        ),
    ]


def _ts(ns: int | None) -> str:
    return "-" if not ns else datetime.fromtimestamp(ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d %H:%M")


START = datetime(2024, 5, 1, tzinfo=UTC)
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "cascade",
            "liquidation cascade: price −22% in 30 h, OI falling, funding flipping, skew steepening, "
            "long-liquidation clusters (crowding read on hour-scale windows: OI and skew over 3 h, liquidations "
            "over 9 h)",
            START,
            cascade_bars,
            cascade_checks,
            WARM,
            None,
            {"signals": {"oi_window": "3h", "short_vol_window": "3h", "liq_window": "9h", "structure_bar": "1h"}},
        ),
        Scenario(
            "funding-flip",
            "funding regime flip: +0.03% → −0.04% per 8 h and staying there",
            START,
            flip_bars,
            flip_checks,
            WARM,
        ),
        Scenario(
            "expiry-week",
            "expiry week: rich funding into the June 2024 quarterly expiry",
            EXPIRY_START,
            expiry_bars,
            expiry_checks,
            0,
        ),
        Scenario(
            "outage",
            "exchange outage: Binance's perpetual feed silent 12 h, then 2 h stale for 12 h (S1 acting on "
            "the latest settlement: persistence_periods=1)",
            START,
            outage_bars,
            outage_checks,
            24,
            {"strategy.s1.persistence_periods": 1},
        ),
        Scenario(
            "gap-move",
            "gap move against one leg: the short perps gap 22% over spot in one bar (S1 at 3x, 20,000 a pair, "
            "isolated margin, no idle collateral to move to it)",
            START,
            gap_bars,
            gap_checks,
            WARM,
            {"strategy.s1.perp_leverage": 3, "paper.margin_mode": "isolated", "strategy.allocation.enabled": False},
            {"g2": {"topup_below_pct": 0.0}},  # margin management off: the collateral has run out
        ),
        Scenario(
            "rally",
            "a hedged book through a threefold rally in 30 days with funding positive (Binance split, its wallets "
            "keeping 2x the perp notional idle for top-ups -- what a 1x short needs to stay 30% from liquidation at "
            "3x; Bybit unified, its coins the collateral; cross margin)",
            START,
            rally_bars,
            rally_checks,
            WARM,
            {"strategy.allocation.split_reserve_pct": 2.0},
        ),
        Scenario(
            "bad-print",
            "broken prints: Binance's BTC perp ×1000 for one bar, then spot and perp ×1000, then the perp ÷1000",
            START,
            bad_print_bars,
            bad_print_checks,
            WARM,
        ),
    )
}
