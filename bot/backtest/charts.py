"""Charts of a backtest: equity, exposure and leverage against the G1 cap, cumulative funding, with ladder stages
and expiry blackouts shaded — as one PNG and as one self-contained HTML page (the PNG inlined, the report's tables
beside it; no network needed to open it).

matplotlib is imported here only, so runs that write no chart never load it."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bot.backtest.observer import Timeline
from bot.backtest.tables import rolling_sharpe, underwater

NS_PER_SEC = 1_000_000_000
STAGE_COLOURS = {1: "#fde68a", 2: "#fdba74", 3: "#fca5a5"}  # trim, hedge, de-risk


def render_png(
    tl: Timeline, title: str, max_points: int = 4000, passive: list[tuple[int, float]] | None = None
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, len(tl) // max_points)
    idx = list(range(0, len(tl), step))
    if idx and idx[-1] != len(tl) - 1:
        idx.append(len(tl) - 1)
    ts = [datetime.fromtimestamp(tl.ts_ns[i] / NS_PER_SEC, tz=UTC) for i in idx]

    def spans(changes: list) -> list[tuple[datetime, datetime, Any]]:  # type: ignore[type-arg]
        return [
            (datetime.fromtimestamp(a / NS_PER_SEC, tz=UTC), datetime.fromtimestamp(b / NS_PER_SEC, tz=UTC), v)
            for a, b, v in tl.spans(changes)
        ]

    fig, axes = plt.subplots(5, 1, figsize=(11, 12), sharex=True, gridspec_kw={"height_ratios": [3, 1.5, 2, 2, 2]})
    ax_eq, ax_dd, ax_exp, ax_lev, ax_fund = axes
    equity = [tl.equity[i] for i in idx]
    ax_eq.plot(ts, equity, color="#1d4ed8", lw=1.2, label="equity")
    if passive and equity:
        first = tl.equity[0]
        ax_eq.plot(
            [datetime.fromtimestamp(t, tz=UTC) for t, _ in passive],
            [first + v for _, v in passive],
            color="#6b7280",
            lw=1.0,
            ls="--",
            label="passive 1x hedge, same average notional",
        )
    ax_eq.set_ylabel("equity (USDT)")
    ax_dd.fill_between(ts, [100 * d for d in underwater(equity)], 0, color="#dc2626", alpha=0.4, lw=0, label="drawdown")
    ax_dd.set_ylabel("underwater (%)")
    ax_exp.plot(ts, [tl.gross_usd[i] for i in idx], color="#0f766e", lw=1.0, label="gross exposure")
    ax_exp.set_ylabel("gross exposure (USD)")
    ax_lev.plot(ts, [tl.leverage[i] for i in idx], color="#7c3aed", lw=1.0, label="leverage")
    caps = [tl.leverage_cap[i] for i in idx]
    ax_lev.plot(
        ts, [c if c is not None else float("nan") for c in caps], color="#dc2626", lw=1.0, ls="--", label="G1 cap"
    )
    ax_lev.set_ylabel("leverage (x)")
    ax_fund.plot(ts, [tl.funding[i] for i in idx], color="#b45309", lw=1.2, label="cumulative funding")
    ax_fund.set_ylabel("funding (USDT)")
    for ax in axes:  # shading from the full-resolution timeline: a short stage is never sampled away
        for start, end, stage in spans(tl.stage_changes):
            ax.axvspan(start, end, color=STAGE_COLOURS.get(stage, "#fca5a5"), alpha=0.5, lw=0)
        for start, end, _ in spans(tl.blackout_changes):
            ax.axvspan(start, end, color="#9ca3af", alpha=0.35, lw=0, hatch="//")
        for start, end, _ in spans([(t, s if s != "active" else None) for t, s in tl.state_changes]):
            ax.axvspan(start, end, color="#111827", alpha=0.12, lw=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color=STAGE_COLOURS[1], label="ladder: trim"),
            Patch(color=STAGE_COLOURS[2], label="ladder: hedge"),
            Patch(color=STAGE_COLOURS[3], label="ladder: de-risk"),
            Patch(color="#9ca3af", alpha=0.5, hatch="//", label="expiry blackout (G4)"),
            Patch(color="#111827", alpha=0.2, label="reducing / halted"),
        ],
        loc="lower center",
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)


def _table(title: str, rows: dict[str, Any]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f"<h2>{html.escape(title)}</h2><table>{body}</table>"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _monthly_table(monthly: dict[str, float]) -> str:
    if not monthly:
        return ""
    head = "".join(f"<th>{m}</th>" for m in MONTHS) + "<th>year</th>"
    rows = []
    for y in sorted({k[:4] for k in monthly}):
        cells, total = [], 1.0
        for m in range(1, 13):
            r = monthly.get(f"{y}-{m:02d}")
            total *= 1 + (r or 0.0)
            colour = "" if r is None else (' style="color:#15803d"' if r >= 0 else ' style="color:#b91c1c"')
            cells.append(f"<td{colour}>{'' if r is None else f'{r:+.2%}'}</td>")
        rows.append(f"<tr><th>{y}</th>{''.join(cells)}<td><b>{total - 1:+.2%}</b></td></tr>")
    return f"<h2>Monthly returns</h2><table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _trips_table(trips: list[dict[str, Any]]) -> str:
    if not trips:
        return ""
    labels = (
        "venue",
        "base",
        "entry",
        "exit",
        "days",
        "funding (USDT)",
        "costs (USDT)",
        "price PnL (USDT)",
        "PnL (USDT)",
    )
    keys = ("venue", "base", "entry", "exit", "days", "funding_usd", "costs_usd", "price_pnl_usd", "pnl_usd")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in labels)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{t[k]:,.2f}</td>" if isinstance(t[k], float) and k != "days" else f"<td>{html.escape(str(t[k]))}</td>"
            for k in keys
        )
        + "</tr>"
        for t in trips
    )
    return f"<h2>Round trips</h2><table><tr>{head}</tr>{body}</table>"


def render_interactive(
    tl: Timeline, passive: list[tuple[int, float]] | None, daily: list[tuple[int, float]], max_points: int = 5000
) -> str:
    """Zoomable, hoverable charts (plotly, its script inlined: the page opens without a network): equity beside
    the passive hedge, the underwater curve, exposure and leverage against the G1 cap, cumulative funding, and the
    30-day rolling Sharpe. Downsampled to ``max_points`` per series, so hourly or minute runs stay light."""
    import plotly.graph_objects as go
    from plotly.io import to_html
    from plotly.subplots import make_subplots

    step = max(1, len(tl) // max_points)
    idx = list(range(0, len(tl), step))
    if idx and idx[-1] != len(tl) - 1:
        idx.append(len(tl) - 1)
    ts = [datetime.fromtimestamp(tl.ts_ns[i] / NS_PER_SEC, tz=UTC) for i in idx]
    equity = [tl.equity[i] for i in idx]
    fig = make_subplots(
        rows=6,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[0.28, 0.12, 0.15, 0.15, 0.15, 0.15],
        subplot_titles=(
            "equity (USDT)",
            "underwater (%)",
            "gross exposure (USD)",
            "leverage vs the G1 cap (x)",
            "cumulative funding (USDT)",
            "rolling Sharpe (30 days)",
        ),
    )
    fig.add_trace(go.Scatter(x=ts, y=equity, name="equity", line={"color": "#1d4ed8"}), row=1, col=1)
    if passive and equity:
        start = tl.equity[0]
        stride = max(1, len(passive) // max_points)
        pts = passive[::stride]
        fig.add_trace(
            go.Scatter(
                x=[datetime.fromtimestamp(t, tz=UTC) for t, _ in pts],
                y=[start + v for _, v in pts],
                name="passive 1x hedge, same average notional",
                line={"color": "#6b7280", "dash": "dash"},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=ts, y=[100 * d for d in underwater(equity)], name="drawdown", fill="tozeroy", line={"color": "#dc2626"}
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=ts, y=[tl.gross_usd[i] for i in idx], name="gross exposure", line={"color": "#0f766e"}),
        row=3,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=ts, y=[tl.leverage[i] for i in idx], name="leverage", line={"color": "#7c3aed"}), row=4, col=1
    )
    fig.add_trace(
        go.Scatter(x=ts, y=[tl.leverage_cap[i] for i in idx], name="G1 cap", line={"color": "#dc2626", "dash": "dot"}),
        row=4,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=ts, y=[tl.funding[i] for i in idx], name="cumulative funding", line={"color": "#b45309"}),
        row=5,
        col=1,
    )
    days = [datetime.fromtimestamp(d, tz=UTC) for d, _ in daily]
    fig.add_trace(
        go.Scatter(x=days, y=rolling_sharpe([e for _, e in daily]), name="rolling Sharpe", line={"color": "#111827"}),
        row=6,
        col=1,
    )
    for a, b, stage in tl.spans(cast(list[tuple[int, object]], tl.stage_changes)):
        fig.add_vrect(
            x0=datetime.fromtimestamp(a / NS_PER_SEC, tz=UTC),
            x1=datetime.fromtimestamp(b / NS_PER_SEC, tz=UTC),
            fillcolor=STAGE_COLOURS.get(cast(int, stage), "#fca5a5"),
            opacity=0.4,
            line_width=0,
        )
    fig.update_layout(
        height=1300, hovermode="x unified", margin={"l": 60, "r": 20, "t": 40, "b": 30}, legend={"orientation": "h"}
    )
    return str(to_html(fig, include_plotlyjs=True, full_html=False))


def render_html(report: dict[str, Any], png: bytes, interactive: str = "") -> str:
    run, perf, led, gov = report["run"], report["performance"], report["ledger"], report["governor"]
    trades = perf["trades"]
    headline = {
        "total return": f"{perf['total_return']:+.3%}",
        "annualized return": f"{perf['annualized_return']:+.3%}",
        "max drawdown": f"{perf['max_drawdown']:.3%}",
        "Sharpe": perf["sharpe"] if perf["sharpe"] is not None else f"n/a ({perf['undefined'].get('sharpe')})",
        "Sortino": perf["sortino"] if perf["sortino"] is not None else f"n/a ({perf['undefined'].get('sortino')})",
        "Calmar": perf["calmar"] if perf["calmar"] is not None else f"n/a ({perf['undefined'].get('calmar')})",
        "round trips": trades["round_trips"],
        "win rate": trades["win_rate"],
        "expectancy (USD/trip)": trades["expectancy"],
        "winning days": perf["win_rate_days"],
    }
    money = {
        k: led[k]
        for k in (
            "funding",
            "fees",
            "spread",
            "slippage",
            "borrow",
            "realized",
            "unrealized",
            "total",
            "identity_residual",
        )
    }
    y = report.get("yardstick") or {}

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2%}"

    def usd(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.2f}"

    yard = (
        {
            "equity change (USDT)": usd(y["equity_change_usd"]),
            "passive 1x hedge, same average notional": usd(y["passive_usd"]),
            "equity vs passive": pct(y["capture_vs_passive"]),
            "ceiling (perfect foresight, no fees)": usd(y["ceiling_usd"]),
            "equity vs ceiling": pct(y["capture_vs_ceiling"]),
            "average perp notional": usd(y["avg_perp_notional_usd"]),
            "capital utilization": pct(y["utilization"]),
            "idle capital, average": usd(y["avg_idle_usd"]),
            "return on notional (per year)": pct(y["return_on_notional_apr"]),
            "longest unhedged interval (s)": f"{y['unhedged_secs_max']:,.1f}",
        }
        if y
        else {}
    )
    interventions = {
        rule: ", ".join(f"{k} {v}" for k, v in c.items()) for rule, c in gov["interventions_by_rule"].items()
    } or {"none": ""}
    img = base64.b64encode(png).decode()
    title = f"carrybot backtest {'+'.join(run['strategies'])} {run['from']} → {run['to']}"
    raw = html.escape(
        json.dumps({k: report[k] for k in ("run", "equity", "performance", "ledger", "counts")}, indent=1, default=str)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;color:#111827}}
table{{border-collapse:collapse;margin:4px 0 16px}}
th,td{{border:1px solid #e5e7eb;padding:3px 10px;text-align:left}}th{{background:#f9fafb;font-weight:600}}
img{{max-width:100%}}.cols{{display:flex;gap:32px;flex-wrap:wrap}}pre{{background:#f9fafb;padding:8px;overflow:auto}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>data {html.escape(str(run["data_version"]))} · code {html.escape(str(run["code_version"]))}
{(" · run " + html.escape(str(run.get("record")))) if run.get("record") else ""}
{" · <b>dated futures SYNTHETIC (generated)</b>" if run["synthetic_instruments"] else ""}</p>
<div class="cols">{_table("Yardstick", yard) if yard else ""}{_table("Performance", headline)}
{_table("Ledger (USDT)", money)}{_table("Governor interventions by rule", interventions)}</div>
{interactive}
{_monthly_table(report.get("monthly_returns") or {})}
{_trips_table(report.get("round_trips") or [])}
<details><summary>static chart (PNG)</summary>
<img alt="equity, drawdown, exposure, leverage vs cap, cumulative funding" src="data:image/png;base64,{img}">
</details>
<p>{html.escape(perf["conventions"])}</p>
<details><summary>report (JSON)</summary><pre>{raw}</pre></details>
</body></html>
"""


def write_charts(
    report: dict[str, Any],
    tl: Timeline,
    out_dir: Path,
    stem: str = "backtest",
    passive: list[tuple[int, float]] | None = None,
    daily: list[tuple[int, float]] | None = None,
) -> tuple[Path, Path]:
    """``passive``: the passive benchmark's cumulative PnL (``yardstick.passive_curve``); ``daily``: (Unix seconds,
    equity) at each UTC day's close, for the rolling Sharpe."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run = report["run"]
    png = render_png(
        tl,
        f"carrybot {'+'.join(run['strategies'])}  {run['from'][:10]} → {run['to'][:10]}  (data {run['data_version']})",
        passive=passive,
    )
    png_path, html_path = out_dir / f"{stem}.png", out_dir / f"{stem}.html"
    png_path.write_bytes(png)
    page = render_html(report, png, render_interactive(tl, passive, daily or []))
    html_path.write_text(page, encoding="utf-8")
    return png_path, html_path
