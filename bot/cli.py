"""``carrybot`` command line: run, backtest, calendar, config check, rules check.

Exit codes: 0 success; 1 runtime failure; 2 invalid configuration or rules (the message names the field).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import logs
from bot.cli_backtest import add_backtest_parser
from bot.cli_data import add_data_parser
from bot.cli_errors import ConfigError, explain, load_settings, secrets_of
from bot.domain import NS_PER_SEC
from bot.governor.rules_config import RulesConfig, RulesError, load_rules
from bot.scenarios.cli import add_scenario_parser
from bot.settings import Settings, masked

EXIT_CONFIG = 2


def rules_for(settings: Settings) -> RulesConfig:
    try:
        return load_rules(settings.rules_file)
    except RulesError as exc:
        raise ConfigError("\n".join(f"invalid rules {exc.path}: {f}: {m}" for f, m in exc.problems)) from exc





def _date(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _ratios(perf: dict[str, Any]) -> str:
    def num(key: str) -> str:
        v = perf.get(key)
        return f"{v:.2f}" if v is not None else f"n/a ({perf['undefined'].get(key, 'undefined')})"
    t = perf["trades"]
    trips = (f"{t['round_trips']} round trips, win rate {t['win_rate']:.0%}, expectancy {t['expectancy']:+,.2f} USDT"
             if t["round_trips"] else "no closed round trips")
    return f"  ratios      Sharpe {num('sharpe')}   Sortino {num('sortino')}   Calmar {num('calmar')}   {trips}"


def summary(report: dict[str, Any]) -> str:
    eq, led, c, g = report["equity"], report["ledger"], report["counts"], report["governor"]
    rules = ", ".join(f"{k}={v}" for k, v in g["decisions_by_rule"].items()) or "none"
    synthetic = " — dated futures SYNTHETIC (generated)" if report["run"]["synthetic_instruments"] else ""
    stop = ([f"  stopped     at {report['run']['to']} of a window to {report['run']['data_to']}: figures cover what "
             "was played; the next `carrybot run` resumes the run"] if report["run"].get("interrupted") else [])
    return "\n".join([
        *stop,
        f"carrybot {report['run']['mode']} {'+'.join(report['run']['strategies'])} {report['run']['from']} → "
        f"{report['run']['to']} (data {report['run']['data_version']}){synthetic}",
        f"  equity      {float(eq['start']):,.2f} → {float(eq['end']):,.2f} USDT  "
        f"({eq['total_return']:+.2%}, {eq['annualized_return']:+.2%}/yr, max drawdown {eq['max_drawdown']:.2%})",
        f"  funding     {float(led['funding']):+,.2f}   fees {float(led['fees']):,.2f}   spread "
        f"{float(led['spread']):,.2f}   slippage {float(led['slippage']):,.2f}   borrow {float(led['borrow']):,.2f}",
        f"  price pnl   realized {float(led['realized']):+,.2f}   unrealized {float(led['unrealized']):+,.2f}   "
        f"ledger residual {led['identity_residual']}",
        *([_ratios(report["performance"])] if "performance" in report else []),
        f"  trades      {c['orders_sent']} orders, {c['fills']} fills, {c['funding_payments']} funding payments, "
        f"{c['liquidations']} liquidations, venue rejections {c['venue_rejections'] or 0}",
        f"  governor    {g['decisions_by_outcome']}  by rule: {rules}  state {g['final_state']}",
        *([f"  carry       ceiling {cc['ceiling_usd']:,.2f} ({cc['ceiling_apr']:.2%}/yr on perp notional); "
           f"captured {cc['capture_gross']:.1%} gross, {cc['capture_net']:.1%} net of costs"]
          if (cc := report.get("carry_capture")) and cc.get("capture_gross") is not None else []),
    ])


def _cmd_cmd(args: argparse.Namespace) -> int:
    from bot.telemetry.cmd_cli import cmd_cmd

    return cmd_cmd(args)


def _run_live(settings: Settings, rules: RulesConfig, live_orders: bool, stream: bool = True,
              persist: bool = True) -> int:
    """Paper on live data (no keys), or live trading with keys (CARRYBOT_MODE=live)."""
    if live_orders:
        missing = [v for v in settings.replay.venues
                   if v not in settings.exchanges or not settings.exchanges[v].api_key.get_secret_value()]
        if missing:
            raise ConfigError(f"invalid setting exchanges ({', '.join(missing)}): live mode needs API keys "
                              "(CARRYBOT_EXCHANGES__<VENUE>__API_KEY / __SECRET, or Docker secrets)")
    logs.configure(settings.log.level, settings.log.format, secrets_of(settings))

    async def go() -> None:
        from bot.app import build_live_bot
        from bot.venues.ccxt_gateway import SandboxUnavailable

        persistence = None
        if persist:  # write-ahead orders, per-tick commits and start-up reconciliation, as for the replay
            from bot.app import open_persistence

            persistence, _ = await open_persistence(settings, "live", masked(settings), time.time_ns())
        try:
            bot = await build_live_bot(settings, rules, live_orders, stream, persistence)
        except SandboxUnavailable as exc:
            venue = str(exc).split()[0]
            raise ConfigError(f"invalid setting exchanges.{venue}.sandbox (CARRYBOT_EXCHANGES__{venue.upper()}"
                              f"__SANDBOX): {exc}") from exc
        if persistence is not None:
            from bot.app import recover_bot

            await recover_bot(bot)
            rec = persistence.recovery.summary() if persistence.recovery else {}
            print(f"carrybot: run {persistence.run_key} {'resumed' if persistence.resumed else 'started'} "
                  f"(store {persistence.store.engine.url.render_as_string(hide_password=True)}; recovery {rec})",
                  flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, bot.executor.stop)
        what = "LIVE orders" if live_orders else "paper orders on live data"
        print(f"carrybot: {what} — {', '.join(sorted(bot.instruments))}", flush=True)
        from bot.telemetry.wiring import start_mqtt, start_ops

        ops = await start_ops(settings, bot) if settings.telemetry.enabled else None
        bridge, bridge_task = start_mqtt(settings, bot) if settings.mqtt.enabled else (None, None)
        fill_loops = []
        if live_orders:  # live fills reach the executor as they happen (stream, else REST polling)
            from bot.execution.watchdog import PositionWatchdog
            from bot.venues.ccxt_fills import run_fill_loop

            gateways = bot.feed.gateways  # type: ignore[attr-defined]
            watchdog = PositionWatchdog(bot.executor, gateways)
            if ops is not None:
                ops.metrics.watchdog = watchdog
            fill_loops = [asyncio.create_task(run_fill_loop(gw)) for gw in gateways.values()]
            fill_loops.append(asyncio.create_task(watchdog.run()))
        try:
            await bot.executor.run()
            if settings.execution.cancel_on_shutdown:
                await bot.executor.cancel_all()
        finally:
            for task in fill_loops:
                task.cancel()
            await asyncio.gather(*fill_loops, return_exceptions=True)
            if ops is not None:
                await ops.stop()
            if bridge is not None and bridge_task is not None:
                await bridge.stop()
                await asyncio.wait([bridge_task], timeout=5)
            if persistence is not None:  # what the shutdown produced reaches the store; the run resumes next start
                await bot.executor.commit(None)
                await persistence.recorder.flush()
                await persistence.close()
            for gw in bot.feed.gateways.values():  # type: ignore[attr-defined]
                await gw.close()

    asyncio.run(go())
    return 0


def cmd_config_check(_: argparse.Namespace) -> int:
    settings = load_settings()
    rules_for(settings)
    print(json.dumps(masked(settings), indent=2, default=str))
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(Path(args.file))
    except RulesError as exc:
        for f, m in exc.problems:
            print(f"invalid rules {exc.path}: {f}: {m}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.file}: ok ({len(rules.model_dump())} sections)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.pace is not None:
        settings = settings.model_copy(update={"replay": settings.replay.model_copy(update={"pace_secs": args.pace})})
    if args.venues:
        settings = settings.model_copy(update={"replay": settings.replay.model_copy(
            update={"venues": tuple(v.strip().lower() for v in args.venues.split(","))})})
    if args.mode is not None:
        settings = settings.model_copy(update={"mode": args.mode})
    rules = rules_for(settings)
    if args.feed in ("live", "live-poll") or settings.mode == "live":
        return _run_live(settings, rules, live_orders=settings.mode == "live", stream=args.feed != "live-poll",
                         persist=not args.no_store)
    logs.configure(settings.log.level, settings.log.format, secrets_of(settings))
    print(f"carrybot: paper trading on the bundled replay, paced to about {settings.replay.pace_secs:.0f} s",
          flush=True)
    from bot.backtest.runner import run_replay

    report = asyncio.run(run_replay(settings, rules, paced=True, progress="lines",
                                    persist=not args.no_store)).report
    print(summary(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    from bot.governor.calendar import VENUES, expiries

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as exc:
        raise ConfigError(f"invalid date: {exc}") from exc
    if start >= end:
        raise ConfigError("invalid range: --from must be before --to")
    if args.venue and args.venue not in VENUES:
        raise ConfigError(f"invalid --venue {args.venue!r}: one of {', '.join(VENUES)}")
    rules = load_rules(None)
    rows = expiries(start, end, (args.venue,) if args.venue else VENUES, args.base, rules.g4.blackout_hours,
                    rules.g4.final_week_days, rules.g4.funding_discount_days)
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
    else:
        for r in rows:
            j = r.as_json()
            print(f"{j['venue']:8} {j['contract']:16} final {j['final_trading_utc']}  blackout from "
                  f"{j['blackout_start_utc']}  final week from {j['final_week_start_utc']}")
    return 0


def cmd_db_upgrade(_: argparse.Namespace) -> int:
    from bot.app import store_url
    from bot.store import Store

    settings = load_settings()

    async def go() -> str:
        store = Store(store_url(settings))
        try:
            await store.upgrade()
        finally:
            await store.close()
        return store.engine.url.render_as_string(hide_password=True)

    print(f"store upgraded to head: {asyncio.run(go())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carrybot", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="paper-trade on the bundled replay, paced (default ~60 s)")
    run.add_argument("--pace", type=float, default=None, help="wall seconds for the whole replay; 0 = flat out")
    run.add_argument("--no-store", action="store_true", help="keep nothing (no store, no venue journals)")
    run.add_argument("--feed", choices=("replay", "live", "live-poll"), default="replay",
                     help="live: paper-trade on the venues' live public data (no keys), websocket streams with REST "
                          "where a venue streams nothing; live-poll: REST polling only")
    run.add_argument("--venues", help="comma-separated venues (default: settings)")
    run.add_argument("--mode", choices=("paper", "live"), default=None,
                     help="live: real orders with the configured keys (default: CARRYBOT_MODE, else paper)")
    run.add_argument("--json", metavar="PATH", help="write the final report as JSON")
    run.set_defaults(func=cmd_run)
    add_backtest_parser(sub)
    add_data_parser(sub)
    add_scenario_parser(sub)
    cfg = sub.add_parser("config", help="settings")
    cfg_sub = cfg.add_subparsers(dest="action", required=True)
    chk = cfg_sub.add_parser("check", help="print the effective settings, secrets masked")
    chk.set_defaults(func=cmd_config_check)
    rules = sub.add_parser("rules", help="governor rules files")
    rules_sub = rules.add_subparsers(dest="action", required=True)
    rchk = rules_sub.add_parser("check", help="validate a rules file")
    rchk.add_argument("file")
    rchk.set_defaults(func=cmd_rules_check)
    cm = sub.add_parser("cmd", help="sign and send an operator command over MQTT")
    cm.add_argument("name", help="pause, resume, reduce, halt, flatten, reload-rules or status")
    cm.add_argument("--args", help='JSON arguments, e.g. {"fraction": 0.5}')
    cm.add_argument("--user", help="broker username (default: settings)")
    cm.add_argument("--password", help="broker password (default: settings)")
    cm.add_argument("--timeout", type=float, default=10.0)
    cm.set_defaults(func=_cmd_cmd)
    db = sub.add_parser("db", help="the store")
    db_sub = db.add_subparsers(dest="action", required=True)
    up = db_sub.add_parser("upgrade", help="apply the store's migrations (also done on start)")
    up.set_defaults(func=cmd_db_upgrade)
    cal = sub.add_parser("calendar", help="quarterly expiries with their G4 blackout windows")
    cal.add_argument("--venue", help="cme, binance, bybit, okx or deribit (default: all)")
    cal.add_argument("--from", dest="start", required=True, metavar="DATE")
    cal.add_argument("--to", dest="end", required=True, metavar="DATE", help="end date, exclusive (expiries before it)")
    cal.add_argument("--base", default="BTC")
    cal.add_argument("--json", action="store_true")
    cal.set_defaults(func=cmd_calendar)
    return p


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 2 for configuration or input (one line naming the field or file), 1 for a failure at run
    time (one line saying what failed and what to do); a traceback only with ``--debug``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes a code and a readable line
        if getattr(args, "debug", False):
            raise
        code, line = explain(exc)
        print(line if code == EXIT_CONFIG and "\n" in line else f"carrybot: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
