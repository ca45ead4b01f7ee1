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


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def yardstick_lines(y: dict[str, Any] | None) -> list[str]:
    """The yardstick first: the run on equity against doing nothing and against perfect foresight, the capital at
    work, and how long a leg stood unhedged."""
    if not y:
        return []
    idle = "n/a" if y["avg_idle_usd"] is None else f"{y['avg_idle_usd']:,.2f}"
    verdict = "beats" if y["beats_passive"] else "TRAILS"
    return [
        f"  yardstick   equity {y['equity_change_usd']:+,.2f} USDT {verdict} the passive hedge "
        f"{y['passive_usd']:+,.2f} ({_pct(y['capture_vs_passive'])} of it; "
        f"{_pct(y['passive_apr_on_notional'])}/yr on notional) and is {_pct(y['capture_vs_ceiling'])} of the "
        f"ceiling {y['ceiling_usd']:,.2f} ({_pct(y['ceiling_apr_on_notional'])}/yr)",
        f"  capital     average perp notional {y['avg_perp_notional_usd']:,.2f} on equity {y['avg_equity_usd']:,.2f}; "
        f"utilization {_pct(y['utilization'])}, idle {idle} on average; "
        f"return on notional {_pct(y['return_on_notional_apr'])}/yr",
        f"  unhedged    {y['unhedged_intervals']} intervals a lead leg stood ahead of its hedge, longest "
        f"{y['unhedged_secs_max']:,.1f} s, {y['unhedged_secs_total']:,.1f} s in all (simulated time)",
    ]


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def trader_tables(report: dict[str, Any], max_trips: int = 12) -> str:
    """Monthly returns (a row per year) and the round trips with entry, exit, funding and costs."""
    lines: list[str] = []
    monthly = report.get("monthly_returns") or {}
    if monthly:
        lines.append("  monthly     " + "".join(f"{m:>7}" for m in MONTHS) + "     year")
        years = sorted({k[:4] for k in monthly})
        for y in years:
            cells, total = [], 1.0
            for m in range(1, 13):
                r = monthly.get(f"{y}-{m:02d}")
                cells.append(f"{r:+7.2%}" if r is not None else f"{'':>7}")
                total *= 1 + (r or 0.0)
            lines.append(f"  {y:10}  " + "".join(cells) + f"  {total - 1:+7.2%}")
    trips = report.get("round_trips") or []
    if trips:
        lines.append(
            f"  round trips {'pair':13} {'entry':16}  {'exit':16}  {'days':>6}  {'funding':>11}  {'costs':>9}  "
            f"{'price':>10}  {'PnL':>11}"
        )
        for t in trips[:max_trips]:
            pair = f"{t.get('venue', '')} {t['base']}".strip()
            lines.append(
                f"              {pair:13} {t['entry']:16}  {t['exit']:16}  {t['days']:6.1f}  "
                f"{t['funding_usd']:+11,.2f}  {t['costs_usd']:9,.2f}  {t['price_pnl_usd']:+10,.2f}  "
                f"{t['pnl_usd']:+11,.2f}"
            )
        if len(trips) > max_trips:
            lines.append(f"              ... {len(trips) - max_trips} more in the HTML report and --json")
    return "\n".join(lines)


def _decisions(counts: dict[str, int]) -> str:
    words = {"approve": "approved", "reject": "rejected", "resize": "resized"}
    return ", ".join(f"{n} {words.get(k, k)}" for k, n in counts.items()) or "none"


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
            *yardstick_lines(report.get("yardstick")),
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
            f"  governor    {_decisions(g['decisions_by_outcome'])}; by rule: {rules}; state {g['final_state']}",
        ]
    )
