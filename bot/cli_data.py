"""``carrybot data import``: bring your own history into the replay format (see ``bot/feeds/importer.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.errors import ConfigError


def cmd_data_import(args: argparse.Namespace) -> int:
    from bot.feeds.bars import load_bars
    from bot.feeds.importer import Columns, ImportErrorWithField, build_series, source_note, write_replay

    out = Path(args.out)
    try:
        series = build_series(
            Path(args.prices),
            args.venue,
            args.base,
            args.kind,
            args.tz,
            args.time_column,
            Path(args.funding) if args.funding else None,
            args.funding_tz,
            args.synthetic_funding,
            synthetic_mean=args.synthetic_funding_mean,
            columns=Columns(
                args.close_column,
                args.open_column,
                args.high_column,
                args.low_column,
                args.volume_column,
                args.funding_column,
            ),
            funding_column=args.funding_file_column,
        )
    except ImportErrorWithField as exc:
        raise ConfigError(str(exc)) from exc
    n = write_replay([series], out, append=args.append)
    note = source_note([series], [str(args.prices)] + ([str(args.funding)] if args.funding else []))
    side = out.with_name(out.name + ".SOURCE.md")
    with side.open("a" if args.append and side.exists() else "w", encoding="utf-8") as f:
        f.write(note)
    check = load_bars(out)  # what a backtest will see: the same validation as every replay
    print(
        f"{out}: {len(series.rows)} {series.venue} {series.base} {series.kind} bars imported; file now holds "
        f"{n} rows (data version {check.data_version})"
    )
    for line in series.notes:
        print(f"  {line}", file=sys.stderr if line.startswith("SYNTHETIC") else sys.stdout)
    rejected = dict(series.rejected) | {f"replay_{k}": v for k, v in check.rejected.items()}
    print(f"  rejected rows: {rejected or 'none'}")
    print(f"  backtest it:   carrybot backtest --data {out}")
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    """A venue's history through ccxt into the replay format: spot and perpetual bars, the perp's settled funding."""
    import asyncio
    from datetime import UTC, datetime

    from bot.cli_errors import load_settings
    from bot.feeds.bars import load_bars
    from bot.feeds.download import TIMEFRAME_MS, Wanted, download
    from bot.feeds.importer import ImportErrorWithField, build_series, source_note, write_replay
    from bot.venues.ccxt_markets import VENUE_OPTIONS, configure, route_through

    venue, base = args.venue.lower(), args.base.upper()
    if args.timeframe not in TIMEFRAME_MS:
        raise ConfigError(f"invalid --timeframe {args.timeframe!r}: one of {', '.join(TIMEFRAME_MS)}")

    def ms(text: str, flag: str) -> int:
        try:
            return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            raise ConfigError(f"invalid {flag} {text!r}: a date, e.g. 2024-01-31") from None

    since = ms(args.since, "--since")
    until = ms(args.until, "--until") if args.until else int(datetime.now(UTC).timestamp() * 1000)
    if until <= since:
        raise ConfigError("invalid --until: after --since")
    cred = load_settings().exchanges.get(venue)
    api_url = args.api_url or (cred.api_url if cred else "")
    kinds = [k.strip() for k in args.kinds.split(",")]
    symbols = {"spot": f"{base}/USDT", "perp": f"{base}/USDT:USDT"}
    if any(k not in symbols for k in kinds):
        raise ConfigError(f"invalid --kinds {args.kinds!r}: spot, perp or both")
    wanted = [Wanted(venue, symbols[k], since, until, args.timeframe) for k in kinds]

    async def go() -> dict[str, tuple[Path, Path | None]]:
        import ccxt.async_support as ccxt_async

        if not hasattr(ccxt_async, venue):
            raise ConfigError(f"invalid --venue {venue!r}: not a ccxt exchange")
        ex = configure(getattr(ccxt_async, venue)({"enableRateLimit": True, "options": VENUE_OPTIONS.get(venue, {})}))
        if api_url:
            route_through(ex, api_url)
        try:
            return await download(ex, wanted, Path(args.cache))
        finally:
            await ex.close()

    files = asyncio.run(go())
    out = Path(args.out)
    series = []
    try:
        for kind, w in zip(kinds, wanted, strict=True):
            bars, rates = files[w.symbol]
            series.append(build_series(bars, venue, base, kind, funding=rates))
    except ImportErrorWithField as exc:
        raise ConfigError(str(exc)) from exc
    n = write_replay(series, out, append=args.append)
    sources = [f"ccxt {venue} fetch_ohlcv {w.symbol} {w.timeframe}" for w in wanted]
    sources += [f"ccxt {venue} fetch_funding_rate_history {w.symbol}" for w in wanted if w.symbol.endswith(":USDT")]
    side = out.with_name(out.name + ".SOURCE.md")
    with side.open("a" if args.append and side.exists() else "w", encoding="utf-8") as f:
        f.write(source_note(series, sources))
    check = load_bars(out)
    for s in series:
        print(f"{out}: {len(s.rows)} {s.venue} {s.base} {s.kind} bars downloaded")
        for line in s.notes:
            print(f"  {line}")
    print(f"{out}: {n} rows (data version {check.data_version})")
    print(
        f"  backtest it:   CARRYBOT_REPLAY__VENUES='[\"{venue}\"]' CARRYBOT_REPLAY__BASES='[\"{base}\"]' "
        f"carrybot backtest --data {out}"
    )
    return 0


def add_data_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = sub.add_parser("data", help="replay data")
    data_sub = data.add_subparsers(dest="action", required=True)
    imp = data_sub.add_parser("import", help="a price (and funding) history → the replay format")
    imp.add_argument("prices", help="CSV (time column in --tz) or ccxt OHLCV JSON list; .gz accepted")
    imp.add_argument("--venue", required=True, help="binance, bybit or okx (the paper venue's fee schedule)")
    imp.add_argument("--base", required=True, help="e.g. BTC")
    imp.add_argument("--kind", required=True, choices=("spot", "perp"))
    imp.add_argument("--tz", default="UTC", help="time zone of naive time stamps, e.g. Europe/London (default UTC)")
    imp.add_argument("--time-column", help="name of the time column when it is not a usual one")
    for name, what in (
        (
            "close",
            "the price column (alone: bars are built from consecutive closes, e.g. a file of spot and perp "
            "closes side by side)",
        ),
        ("open", "the open column"),
        ("high", "the high column"),
        ("low", "the low column"),
        ("volume", "the volume column"),
        ("funding", "the funding-rate column of the price file"),
    ):
        imp.add_argument(f"--{name}-column", metavar="NAME", help=f"{what} (default: found by its usual name)")
    imp.add_argument("--funding", metavar="FILE", help="funding history: CSV or ccxt fetch_funding_rate_history JSON")
    imp.add_argument("--funding-file-column", metavar="NAME", help="the rate column of --funding (default: usual name)")
    imp.add_argument("--funding-tz", help="time zone of the funding file (default: --tz)")
    imp.add_argument(
        "--synthetic-funding",
        type=int,
        metavar="SEED",
        help="no funding exists: attach a generated series (labelled SYNTHETIC)",
    )
    imp.add_argument(
        "--synthetic-funding-mean",
        type=float,
        default=1e-4,
        metavar="RATE",
        help="mean of the generated funding per 8 h (default 0.0001 = 0.01%%)",
    )
    imp.add_argument("--out", required=True, help="replay file to write (.csv or .csv.gz)")
    imp.add_argument("--append", action="store_true", help="merge into --out (a series already there is replaced)")
    imp.set_defaults(func=cmd_data_import)
    dl = data_sub.add_parser(
        "download", help="a venue's bars and funding history through ccxt → the replay format (resumable)"
    )
    dl.add_argument("--venue", required=True, help="binance, bybit or okx")
    dl.add_argument("--base", required=True, help="e.g. BTC (against USDT)")
    dl.add_argument("--kinds", default="spot,perp", help="spot, perp or spot,perp (default)")
    dl.add_argument("--since", required=True, help="first day, UTC (e.g. 2024-01-01)")
    dl.add_argument("--until", help="last moment, UTC (default: now)")
    dl.add_argument("--timeframe", default="1h", help="bar length: 1m, 5m, 15m, 1h (default), 4h, 8h")
    dl.add_argument("--cache", default="var/downloads", help="pages kept here; a rerun resumes (default var/downloads)")
    dl.add_argument("--api-url", default="", help="another base URL for the venue (the emulator); default the venue")
    dl.add_argument("--out", required=True, help="replay file to write (.csv or .csv.gz)")
    dl.add_argument("--append", action="store_true", help="merge into --out (a series already there is replaced)")
    dl.set_defaults(func=cmd_data_download)
