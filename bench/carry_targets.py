"""The strategy-quality targets of issue 14 on the bundled history with default settings: S1's return on equity,
its equity gain against the passive hedge at the same average notional, capital utilization, drawdown,
liquidations, trims of a hedged book; S2 not losing money. Prints each figure beside its target; asserts nothing.

    python bench/carry_targets.py
"""

from __future__ import annotations

import asyncio

from bot import logs
from bot.backtest.runner import run_replay
from bot.governor.rules_config import load_rules
from bot.settings import Settings


def run(strategy: str) -> dict:  # type: ignore[type-arg]
    settings = Settings(_env_file=None, strategy={"active": [strategy]})
    result = asyncio.run(run_replay(settings, load_rules(None), paced=False, signals=False))
    report = result.report
    trims = [
        d
        for d in result.bot.audit.decisions
        if d.intent.origin.value == "governor" and d.intent.intent_id.split("-")[1] in ("trim", "derisk", "hedge")
    ]
    return {"report": report, "trims": len(trims)}


def line(name: str, value: str, target: str, ok: bool) -> None:
    print(f"  {name:44} {value:>14}   target {target:14} {'met' if ok else 'NOT MET'}")


def main() -> None:
    logs.configure("warning")
    s1 = run("s1")
    r, y = s1["report"], s1["report"]["yardstick"]
    print("S1 spot–perp carry, bundled 2023-01-01 → 2024-07-01, default settings")
    ann, dd = r["equity"]["annualized_return"], r["equity"]["max_drawdown"]
    line("annualized return on equity", f"{ann:.2%}", ">= 6%", ann >= 0.06)
    line("equity gain, USDT", f"{y['equity_change_usd']:,.2f}", f">= {y['passive_usd']:,.0f}", y["beats_passive"])
    line("  ... over the passive hedge", f"{y['capture_vs_passive']:.1%}", ">= 100%", y["beats_passive"])
    line("  ... over the ceiling", f"{y['capture_vs_ceiling']:.1%}", "(report)", True)
    line("capital utilization", f"{y['utilization']:.1%}", ">= 75%", y["utilization"] >= 0.75)
    line("max drawdown", f"{dd:.2%}", "<= 3%", dd <= 0.03)
    line("liquidations", str(r["counts"]["liquidations"]), "0", r["counts"]["liquidations"] == 0)
    line("governor trims / de-risks of the book", str(s1["trims"]), "0 (rally)", s1["trims"] == 0)
    line("longest unhedged interval, s (simulated)", f"{y['unhedged_secs_max']:.2f}", "(report)", True)
    s2 = run("s2")["report"]
    change = float(s2["equity"]["change"])
    print("S2 cross-venue differential")
    line("equity change, USDT", f"{change:,.2f}", ">= 0", change >= 0)


if __name__ == "__main__":
    main()
