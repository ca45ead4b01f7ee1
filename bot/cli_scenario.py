"""``carrybot scenario NAME`` (or ``all``, or ``--list``): run, print the governor timeline, the checks and the
report summary. Exit 0 when every check holds, 1 when one fails."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.errors import ConfigError


def compress(lines: list[tuple[tuple[str, ...], str]]) -> list[str]:
    """Consecutive events that say the same thing (same rule, action and reason) collapse into one line."""
    out: list[str] = []
    run_key, first, count, last_when = None, "", 0, ""
    for key, line in lines:
        if key == run_key:
            count += 1
            last_when = line[:11]
            continue
        if run_key is not None:
            out.append(first + (f"   (×{count}, until {last_when})" if count > 1 else ""))
        run_key, first, count, last_when = key, line, 1, line[:11]
    if run_key is not None:
        out.append(first + (f"   (×{count}, until {last_when})" if count > 1 else ""))
    return out


def run_one(name: str, rules_file: str | None = None) -> tuple[bool, dict[str, Any], str]:
    from bot.backtest.params import with_overrides
    from bot.cli_errors import load_settings
    from bot.governor.rules_config import load_rules
    from bot.report_text import summary
    from bot.scenarios.catalog import SCENARIOS
    from bot.scenarios.runner import run_batches

    sc = SCENARIOS[name]
    settings = with_overrides(
        load_settings(), dict(sc.settings or {}) | ({"rules_file": rules_file} if rules_file else {})
    )
    run = run_batches(name, sc.batches(), settings, sc.rules_for(load_rules(settings.rules_file)))
    checks = sc.checks(run, sc.stress_ns())
    text = [
        f"== scenario {name}: {sc.title}",
        "",
        f"{'when (UTC)':11}  {'rule':5} {'stage':>5}  {'action':28} {'size USD':>10}  {'state':9} detail",
    ]
    text += compress(
        [
            ((e.rule, e.action, e.detail.split(" value")[0] if e.kind != "ladder" else e.action, e.state), e.line())
            for e in run.timeline
        ]
    )
    text += ["", "checks:"] + [f"  {'PASS' if c.passed else 'FAIL'}  {c.name} — {c.detail}" for c in checks]
    text += ["", summary(run.report)]
    ok = all(c.passed for c in checks)
    result = {
        "scenario": name,
        "title": sc.title,
        "passed": ok,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks],
        "timeline": [
            {
                "ts_ns": e.ts_ns,
                "kind": e.kind,
                "rule": e.rule,
                "stage": e.stage,
                "action": e.action,
                "size_usd": e.size_usd,
                "state": e.state,
                "detail": e.detail,
            }
            for e in run.timeline
        ],
        "report": {k: run.report[k] for k in ("equity", "performance", "ledger", "counts", "governor")},
    }
    return ok, result, "\n".join(text)


def cmd_scenario(args: argparse.Namespace) -> int:
    from bot import logs
    from bot.scenarios.catalog import SCENARIOS

    if args.list or not args.name:
        for sc in SCENARIOS.values():
            print(f"{sc.name:13} {sc.title}")
        return 0
    names = list(SCENARIOS) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(f"invalid scenario {unknown[0]!r}: one of {', '.join(SCENARIOS)} or all")
    logs.configure("warning", "console", [])
    results, all_ok = [], True
    for n in names:
        ok, result, text = run_one(n, args.rules)
        all_ok &= ok
        results.append(result)
        print(text, end="\n\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results if len(results) > 1 else results[0], indent=2, default=str))
    print(f"scenarios: {sum(r['passed'] for r in results)}/{len(results)} passed")
    return 0 if all_ok else 1


def add_scenario_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sc = sub.add_parser("scenario", help="stress scenarios through the real executor and governor")
    sc.add_argument("name", nargs="?", help="a scenario's name (`--list` shows them), or all")
    sc.add_argument("--list", action="store_true", help="list the scenarios")
    sc.add_argument("--rules", metavar="FILE", help="governor rules file (default: settings)")
    sc.add_argument("--json", metavar="PATH", help="write timelines, checks and reports as JSON")
    sc.set_defaults(func=cmd_scenario)
