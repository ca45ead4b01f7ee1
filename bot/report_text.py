"""The run report as the few lines a person reads at the end of a run, a backtest or a scenario."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain import NS_PER_SEC


def _date(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _ratios(perf: dict[str, Any]) -> str:
    def num(key: str) -> str:
        v = perf.get(key)
        return f"{v:.2f}" if v is not None else f"n/a ({perf['undefined'].get(key, 'undefined')})"

    t = perf["trades"]
    trips = (
        f"{t['round_trips']} round trips, win rate {t['win_rate']:.0%}, expectancy {t['expectancy']:+,.2f} USDT"
        if t["round_trips"]
        else "no closed round trips"
    )
    return f"  ratios      Sharpe {num('sharpe')}   Sortino {num('sortino')}   Calmar {num('calmar')}   {trips}"


def summary(report: dict[str, Any]) -> str:
    eq, led, c, g = report["equity"], report["ledger"], report["counts"], report["governor"]
    rules = ", ".join(f"{k}={v}" for k, v in g["decisions_by_rule"].items()) or "none"
    synthetic = " — dated futures SYNTHETIC (generated)" if report["run"]["synthetic_instruments"] else ""
    stop = (
        [
            f"  stopped     at {report['run']['to']} of a window to {report['run']['data_to']}: figures cover what "
            "was played; the next `carrybot run` resumes the run"
        ]
        if report["run"].get("interrupted")
        else []
    )
    return "\n".join(
        [
            *stop,
            f"carrybot {report['run']['mode']} {'+'.join(report['run']['strategies'])} {report['run']['from']} → "
            f"{report['run']['to']} (data {report['run']['data_version']}){synthetic}",
            f"  equity      {float(eq['start']):,.2f} → {float(eq['end']):,.2f} USDT  "
            f"({eq['total_return']:+.2%}, {eq['annualized_return']:+.2%}/yr, max drawdown {eq['max_drawdown']:.2%})",
            f"  funding     {float(led['funding']):+,.2f}   fees {float(led['fees']):,.2f}   spread "
            f"{float(led['spread']):,.2f}   slippage {float(led['slippage']):,.2f}   "
            f"borrow {float(led['borrow']):,.2f}",
            f"  price pnl   realized {float(led['realized']):+,.2f}   unrealized {float(led['unrealized']):+,.2f}   "
            f"ledger residual {led['identity_residual']}",
            *([_ratios(report["performance"])] if "performance" in report else []),
            f"  trades      {c['orders_sent']} orders, {c['fills']} fills, {c['funding_payments']} funding payments, "
            f"{c['liquidations']} liquidations, venue rejections {c['venue_rejections'] or 0}",
            f"  governor    {g['decisions_by_outcome']}  by rule: {rules}  state {g['final_state']}",
            *(
                [
                    f"  carry       ceiling {cc['ceiling_usd']:,.2f} ({cc['ceiling_apr']:.2%}/yr on perp notional); "
                    f"captured {cc['capture_gross']:.1%} gross, {cc['capture_net']:.1%} net of costs"
                ]
                if (cc := report.get("carry_capture")) and cc.get("capture_gross") is not None
                else []
            ),
        ]
    )
