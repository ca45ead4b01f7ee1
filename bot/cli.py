"""``carrybot`` command line: run, backtest, calendar, config check, rules check.

Exit codes: 0 success; 1 runtime failure; 2 invalid configuration or rules (the message names the field).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot import logs
from bot.cli_backtest import add_backtest_parser
from bot.cli_data import add_data_parser
from bot.cli_errors import ConfigError, explain, load_settings, secrets_of
from bot.cli_scenario import add_scenario_parser
from bot.governor.rules_config import RulesConfig, RulesError, load_rules
from bot.report_text import summary
from bot.settings import Settings, masked

if TYPE_CHECKING:
    from bot.execution.executor import Executor

EXIT_CONFIG = 2


def rules_for(settings: Settings) -> RulesConfig:
    """The governor rules the settings name (a bad file: ``RulesError``, exit 2 naming the field)."""
    return load_rules(settings.rules_file)


def _cmd_cmd(args: argparse.Namespace) -> int:
    from bot.cli_cmd import cmd_cmd

    return cmd_cmd(args)


def _run_live(
    settings: Settings, rules: RulesConfig, live_orders: bool, stream: bool = True, persist: bool = True
) -> int:
    """Paper on live data (no keys), or live trading with keys (CARRYBOT_MODE=live)."""
    if live_orders:
        missing = [
            v
            for v in settings.replay.venues
            if v not in settings.exchanges or not settings.exchanges[v].api_key.get_secret_value()
        ]
        if missing:
            raise ConfigError(
                f"invalid setting exchanges ({', '.join(missing)}): {settings.mode} mode needs API keys "
                "(CARRYBOT_EXCHANGES__<VENUE>__API_KEY / __SECRET, or Docker secrets)"
            )
        unconfirmed = [
            v
            for v in settings.replay.venues
            if settings.mode == "live"
            and not (settings.exchanges[v].sandbox or settings.exchanges[v].api_url or settings.exchanges[v].mainnet)
        ]
        if unconfirmed:
            v = unconfirmed[0]
            raise ConfigError(
                f"invalid setting exchanges.{v}.mainnet: live mode trades real money on {v}'s real account; confirm "
                f"with CARRYBOT_EXCHANGES__{v.upper()}__MAINNET=true (or trade its testnet: __SANDBOX=true, or run "
                "--mode shadow first)"
            )
    logs.configure(settings.log.level, settings.log.format, secrets_of(settings))

    async def go() -> None:
        from bot.assembly import build_live_bot, recover_bot
        from bot.errors import SandboxUnavailable
        from bot.live_accounts import final_read
        from bot.session import RunSession

        async with RunSession(settings) as session:  # signal handlers first: a SIGTERM now stops cleanly
            persistence = None
            if persist:  # write-ahead orders, per-tick commits and start-up reconciliation, as for the replay
                from bot.store.run import open_persistence
                from bot.version import code_version

                persistence = await open_persistence(settings, "live", masked(settings), time.time_ns(), code_version())
                session.on_close(persistence.close)
            try:
                bot = session.adopt(await build_live_bot(settings, rules, live_orders, stream, persistence))
            except SandboxUnavailable as exc:
                raise ConfigError(
                    f"invalid setting exchanges.{exc.venue}.sandbox (CARRYBOT_EXCHANGES__"
                    f"{exc.venue.upper()}__SANDBOX): {exc}"
                ) from exc
            if persistence is not None:
                await recover_bot(bot)
                rec = bot.recovery.summary() if bot.recovery else {}
                url = persistence.store.engine.url.render_as_string(hide_password=True)
                print(
                    f"carrybot: run {persistence.run_key} {'resumed' if persistence.resumed else 'started'} "
                    f"(store {url}; recovery {rec})",
                    flush=True,
                )
            await session.join_firm()
            what = "LIVE orders" if live_orders else "paper orders on live data"
            print(f"carrybot: {what} — {', '.join(sorted(bot.instruments))}", flush=True)
            await session.start_telemetry()
            if live_orders:  # live fills reach the executor as they happen (stream, else REST polling)
                from bot.execution.watchdog import PositionWatchdog
                from bot.venues.ccxt_fills import run_fill_loop

                watchdog = PositionWatchdog(bot.executor, bot.market_gateways)
                if session.ops is not None:
                    session.ops.metrics.watch(watchdog=watchdog)
                funding_secs = settings.execution.live_funding_poll_secs
                for venue, gw in bot.market_gateways.items():
                    session.spawn(run_fill_loop(gw, funding_secs=funding_secs), f"fills-{venue}")
                session.spawn(watchdog.run(), "watchdog")
            await bot.executor.run()
            if settings.execution.cancel_on_shutdown:
                await bot.executor.cancel_all()
            if live_orders and settings.mode == "live":  # the venues' last word before the books close
                await final_read(bot.executor, bot.market_gateways)
            if persistence is not None:  # what the shutdown produced reaches the store; the run resumes next start
                await bot.executor.commit(None)
                await persistence.recorder.flush()
            print(live_summary(bot.executor, persistence.run_key if persistence else None), flush=True)

    asyncio.run(go())
    return 0


def live_summary(ex: Executor, run_key: str | None) -> str:
    """The last lines of a live or live-paper run: its books at the last marks, and where the next start picks up."""
    led, st = ex.ledger, ex.stats
    marks = ex.marks
    equity = led.equity(marks) if all(k in marks for k in led.legs) else None
    held = sorted(iid for iid, leg in led.legs.items() if leg.qty)
    lines = [
        f"carrybot: stopped after {st.ticks} ticks — equity {'unknown' if equity is None else f'{equity:,.2f}'} "
        f"(opening {led.initial_equity:,.2f}), funding {led.funding:+,.2f}, fees {led.fees:,.2f}, "
        f"{st.orders_sent} orders, {st.fills} fills, {st.funding_payments} funding payments, "
        f"state {ex.governor.trading_state.value}",
        f"carrybot: open legs {', '.join(held) if held else 'none'}; "
        + (f"the next start resumes run {run_key}" if run_key else "nothing kept (--no-store)"),
    ]
    return "\n".join(lines)


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
        settings = settings.model_copy(
            update={
                "replay": settings.replay.model_copy(
                    update={"venues": tuple(v.strip().lower() for v in args.venues.split(","))}
                )
            }
        )
    if args.mode is not None:
        settings = settings.model_copy(update={"mode": args.mode})
    rules = rules_for(settings)
    feed = args.feed or settings.feed
    if feed in ("live", "live-poll") or settings.mode in ("live", "shadow"):
        return _run_live(
            settings,
            rules,
            live_orders=settings.mode in ("live", "shadow"),
            stream=feed != "live-poll",
            persist=not args.no_store,
        )
    logs.configure(settings.log.level, settings.log.format, secrets_of(settings))
    print(
        f"carrybot: paper trading on the bundled replay, paced to about {settings.replay.pace_secs:.0f} s", flush=True
    )
    from bot.backtest.runner import run_replay

    report = asyncio.run(run_replay(settings, rules, paced=True, progress="lines", persist=not args.no_store)).report
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
    rows = expiries(
        start,
        end,
        (args.venue,) if args.venue else VENUES,
        args.base,
        rules.g4.blackout_hours,
        rules.g4.final_week_days,
        rules.g4.funding_discount_days,
    )
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
    else:
        for r in rows:
            j = r.as_json()
            print(
                f"{j['venue']:8} {j['contract']:16} final {j['final_trading_utc']}  blackout from "
                f"{j['blackout_start_utc']}  final week from {j['final_week_start_utc']}"
            )
    return 0


def cmd_db_upgrade(_: argparse.Namespace) -> int:
    from bot.store import Store
    from bot.store.run import store_url

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
    run.add_argument(
        "--feed",
        choices=("replay", "live", "live-poll"),
        default=None,
        help="live: paper-trade on the venues' live public data (no keys), websocket streams with REST "
        "where a venue streams nothing; live-poll: REST polling only (default: CARRYBOT_FEED, else replay)",
    )
    run.add_argument("--venues", help="comma-separated venues (default: settings)")
    run.add_argument(
        "--mode",
        choices=("paper", "live", "shadow"),
        default=None,
        help="live: real orders with the configured keys; shadow: the real account read with the keys, decisions "
        "logged and exported, nothing sent (default: CARRYBOT_MODE, else paper)",
    )
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
    cm.add_argument(
        "--firm",
        action="store_true",
        help="to every instance at once (pause, resume, halt, flatten or status): prints each one's reply",
    )
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
