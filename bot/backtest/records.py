"""Every backtest is recorded in the store (the ``runs`` table, mode ``backtest``): its parameters (settings with
secrets masked, rules), data version, code version and results. ``carrybot backtest compare A B`` diffs two."""

from __future__ import annotations

import hashlib
import json
from typing import Any

HEADLINE = (
    ("equity.total_return", "total return", "pct"),
    ("equity.annualized_return", "annualized", "pct"),
    ("equity.max_drawdown", "max drawdown", "pct"),
    ("performance.sharpe", "Sharpe", "num"),
    ("performance.sortino", "Sortino", "num"),
    ("performance.calmar", "Calmar", "num"),
    ("performance.trades.round_trips", "round trips", "int"),
    ("performance.trades.win_rate", "win rate", "pct"),
    ("performance.trades.expectancy", "expectancy USD", "num"),
    ("ledger.funding", "funding", "num"),
    ("ledger.fees", "fees", "num"),
    ("ledger.slippage", "slippage", "num"),
    ("ledger.borrow", "borrow", "num"),
    ("counts.orders_sent", "orders", "int"),
    ("counts.liquidations", "liquidations", "int"),
    ("yardstick.capture_vs_passive", "equity vs passive hedge", "pct"),
    ("yardstick.capture_vs_ceiling", "equity vs ceiling", "pct"),
    ("yardstick.utilization", "capital utilization", "pct"),
)


def results_of(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("equity", "performance", "ledger", "counts", "yardstick")
    out = {k: report.get(k) for k in keep}
    out["governor"] = {
        k: report["governor"][k] for k in ("decisions_by_outcome", "interventions_by_rule", "final_state")
    }
    plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
    return plain


def params_of(report: dict[str, Any]) -> dict[str, Any]:
    run = report["run"]
    plain: dict[str, Any] = json.loads(
        json.dumps(
            {
                "strategies": run["strategies"],
                "from": run["from"],
                "to": run["to"],
                "settings": run["settings"],
                "rules": run["rules"],
            },
            default=str,
        )
    )
    return plain


def run_key(params: dict[str, Any], now_ns: int) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:6]
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"bt-{stamp}-{digest}"


async def record(store_url: str, report: dict[str, Any], now_ns: int) -> str:
    from bot.store import Store

    store = Store(store_url)
    try:
        await store.upgrade()
        params = params_of(report)
        key = run_key(params, now_ns)
        n = 0
        while any(r.run_key == (key if n == 0 else f"{key}-{n}") for r in await store.runs()):
            n += 1
        key = key if n == 0 else f"{key}-{n}"
        run = await store.open_run(
            key, "backtest", params, report["run"]["data_version"], report["run"]["code_version"], now_ns
        )
        await store.finish_run(run.id, results_of(report), now_ns)
        return key
    finally:
        await store.close()


async def _finished(store_url: str) -> list[Any]:
    from bot.store import Store

    store = Store(store_url)
    try:
        await store.upgrade()
        return [r for r in await store.runs() if r.mode == "backtest" and r.status == "finished"]
    finally:
        await store.close()


async def load(store_url: str, keys: list[str]) -> list[dict[str, Any]]:
    """Recorded backtests by key, by id, or ``latest`` / ``previous``; a clear error naming what is missing."""
    runs = await _finished(store_url)
    out = []
    for k in keys:
        alias = {"latest": -1, "previous": -2}.get(k)
        found = None
        if alias is not None and len(runs) >= -alias:
            found = runs[alias]
        for r in runs:
            if r.run_key == k or str(r.id) == k:
                found = r
        if found is None:
            known = ", ".join(r.run_key for r in runs[-5:]) or "none recorded yet"
            raise LookupError(f"no recorded backtest {k!r} (latest: {known})")
        out.append(
            {
                "key": found.run_key,
                "id": found.id,
                "data_version": found.data_version,
                "code_version": found.code_version,
                "params": found.params,
                "results": found.results or {},
            }
        )
    return out


async def listing(store_url: str) -> list[dict[str, Any]]:
    runs = await _finished(store_url)
    return [
        {
            "key": r.run_key,
            "id": r.id,
            "data_version": r.data_version,
            "code_version": r.code_version,
            "strategies": r.params.get("strategies"),
            "total_return": _get(r.results or {}, "equity.total_return"),
            "sharpe": _get(r.results or {}, "performance.sharpe"),
        }
        for r in runs
    ]


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list):
        return {prefix: json.dumps(d, default=str)}
    return {prefix: d}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What differs between two recorded runs: versions, every parameter that changed, and the headline results
    side by side with their difference."""
    pa, pb = flatten(a["params"]), flatten(b["params"])
    params = {k: (pa.get(k), pb.get(k)) for k in sorted(pa.keys() | pb.keys()) if pa.get(k) != pb.get(k)}
    results = []
    for path, label, kind in HEADLINE:
        va, vb = _get(a["results"], path), _get(b["results"], path)
        fa = float(va) if va is not None else None
        fb = float(vb) if vb is not None else None
        results.append(
            {
                "metric": label,
                "path": path,
                "kind": kind,
                "a": fa,
                "b": fb,
                "diff": fb - fa if fa is not None and fb is not None else None,
            }
        )
    ia = flatten(_get(a["results"], "governor.interventions_by_rule") or {})
    ib = flatten(_get(b["results"], "governor.interventions_by_rule") or {})
    interventions = {
        k: (ia.get(k, 0), ib.get(k, 0)) for k in sorted(ia.keys() | ib.keys()) if ia.get(k, 0) != ib.get(k, 0)
    }
    return {
        "a": {k: a[k] for k in ("key", "data_version", "code_version")},
        "b": {k: b[k] for k in ("key", "data_version", "code_version")},
        "same_data": a["data_version"] == b["data_version"],
        "same_code": a["code_version"] == b["code_version"],
        "params_changed": params,
        "results": results,
        "interventions_changed": interventions,
    }


def _cell(v: float | None, kind: str, signed: bool = False) -> str:
    if v is None:
        return "n/a"
    if kind == "pct":
        return f"{v:+.3%}" if signed else f"{v:.3%}"
    if kind == "int":
        return f"{v:+.0f}" if signed else f"{v:.0f}"
    return f"{v:+,.4f}" if signed else f"{v:,.4f}"


def format_compare(c: dict[str, Any]) -> str:
    a, b = c["a"], c["b"]
    lines = [
        f"A {a['key']}  data {a['data_version']}  code {a['code_version']}",
        f"B {b['key']}  data {b['data_version']}  code {b['code_version']}",
    ]
    if not c["same_data"]:
        lines.append("  ! different data versions: results are not comparable like for like")
    lines.append(f"\nparameters changed ({len(c['params_changed'])}):")
    for k, (va, vb) in c["params_changed"].items():
        lines.append(f"  {k}: {va!r} → {vb!r}")
    if not c["params_changed"]:
        lines.append("  none")
    lines.append(f"\n{'metric':22} {'A':>14} {'B':>14} {'B − A':>14}")
    for r in c["results"]:
        lines.append(
            f"{r['metric']:22} {_cell(r['a'], r['kind']):>14} {_cell(r['b'], r['kind']):>14} "
            f"{_cell(r['diff'], r['kind'], True):>14}"
        )
    if c["interventions_changed"]:
        lines.append("\ngovernor interventions changed:")
        for k, (va, vb) in c["interventions_changed"].items():
            lines.append(f"  {k}: {va} → {vb}")
    return "\n".join(lines)
