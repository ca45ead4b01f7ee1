"""Freqtrade's futures backtest on the 45,031 one-minute BTC-perp bars: an EMA(10)/EMA(20) cross, long and short.

Runs inside Freqtrade's own virtual environment (``bench/peers/run.py`` makes it); nothing of Freqtrade is copied
here. Offline: the one market Freqtrade would download at start-up (Binance's BTC/USDT:USDT perpetual, in ccxt's
market structure) is handed to ccxt instead, and the bars, an 8-hourly funding series and 1 h mark candles are
written in Freqtrade's own data layout (feather). Freqtrade's leverage tiers for Binance ship with it.

    <freqtrade venv>/bin/python bench/peers/freqtrade_job.py BARS.csv.gz WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

STRATEGY = """
from pandas import DataFrame
from freqtrade.strategy import IStrategy


class EmaCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = True
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 20
    process_only_new_candles = True

    def populate_indicators(self, df: DataFrame, metadata: dict) -> DataFrame:
        df["fast"] = df["close"].ewm(span=10, adjust=False).mean()
        df["slow"] = df["close"].ewm(span=20, adjust=False).mean()
        return df

    def populate_entry_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        up = (df["fast"] > df["slow"]) & (df["fast"].shift(1) <= df["slow"].shift(1))
        down = (df["fast"] < df["slow"]) & (df["fast"].shift(1) >= df["slow"].shift(1))
        df.loc[up, "enter_long"] = 1
        df.loc[down, "enter_short"] = 1
        return df

    def populate_exit_trend(self, df: DataFrame, metadata: dict) -> DataFrame:
        df.loc[df["fast"] < df["slow"], "exit_long"] = 1
        df.loc[df["fast"] > df["slow"], "exit_short"] = 1
        return df
"""

MARKET = {
    "id": "BTCUSDT",
    "lowercaseId": "btcusdt",
    "symbol": "BTC/USDT:USDT",
    "base": "BTC",
    "quote": "USDT",
    "settle": "USDT",
    "baseId": "BTC",
    "quoteId": "USDT",
    "settleId": "USDT",
    "type": "swap",
    "spot": False,
    "margin": False,
    "swap": True,
    "future": False,
    "option": False,
    "index": None,
    "active": True,
    "contract": True,
    "linear": True,
    "inverse": False,
    "subType": "linear",
    "taker": 0.0005,
    "maker": 0.0002,
    "contractSize": 1.0,
    "expiry": None,
    "expiryDatetime": None,
    "strike": None,
    "optionType": None,
    "precision": {"amount": 0.001, "price": 0.1, "base": 1e-08, "quote": 1e-08},
    "limits": {
        "leverage": {"min": 1, "max": 125},
        "amount": {"min": 0.001, "max": 1000.0},
        "price": {"min": 556.8, "max": 4529764.0},
        "cost": {"min": 100.0, "max": None},
        "market": {"min": 0.001, "max": 120.0},
    },
    "marginModes": {"cross": True, "isolated": True},
    "created": 1569398400000,
    "info": {"symbol": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING"},
    "percentage": True,
    "tierBased": True,
    "feeSide": "get",
}


def write_data(bars_csv: Path, user_dir: Path) -> tuple[str, str]:
    df = pd.read_csv(bars_csv)
    df["date"] = pd.to_datetime(df["timestamp"], utc=True)
    df = df[["date", "open", "high", "low", "close", "volume"]]
    out = user_dir / "data" / "binance" / "futures"
    out.mkdir(parents=True, exist_ok=True)
    df.to_feather(out / "BTC_USDT_USDT-1m-futures.feather")
    hourly = (
        df.set_index("date")
        .resample("1h")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
        .reset_index()
    )
    hourly.to_feather(out / "BTC_USDT_USDT-1h-mark.feather")
    funding = hourly[["date"]].copy()
    funding["open"] = [0.0001 if d.hour % 8 == 0 else 0.0 for d in funding["date"]]
    funding["high"] = funding["low"] = funding["close"] = funding["open"]
    funding["volume"] = 0.0
    funding.to_feather(out / "BTC_USDT_USDT-1h-funding_rate.feather")
    first, last = df["date"].iloc[0], df["date"].iloc[-1]
    return first.strftime("%Y%m%d"), (last + pd.Timedelta(days=1)).strftime("%Y%m%d")


def main() -> None:
    bars_csv, work = Path(sys.argv[1]), Path(sys.argv[2])
    user_dir = work / "user_data"
    (user_dir / "strategies").mkdir(parents=True, exist_ok=True)
    (user_dir / "strategies" / "ema_cross.py").write_text(STRATEGY)
    start, end = write_data(bars_csv, user_dir)
    config = {
        "trading_mode": "futures",
        "margin_mode": "isolated",
        "stake_currency": "USDT",
        "stake_amount": 1000,
        "dry_run_wallet": 100000,
        "max_open_trades": 1,
        "timeframe": "1m",
        "dry_run": True,
        "exchange": {"name": "binance", "pair_whitelist": ["BTC/USDT:USDT"], "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "user_data_dir": str(user_dir),
        "datadir": str(user_dir / "data" / "binance"),
        "dataformat_ohlcv": "feather",
        "internals": {"process_throttle_secs": 5},
    }
    cfg_path = work / "config.json"
    cfg_path.write_text(json.dumps(config))

    from freqtrade.exchange import exchange as exchange_module

    def offline_markets(self: object, reload: bool = False) -> None:  # the one market, as ccxt would have it
        self._api_async.set_markets([dict(MARKET)])  # type: ignore[attr-defined]

    exchange_module.Exchange._load_async_markets = offline_markets  # type: ignore[method-assign]

    from freqtrade.main import main as freqtrade_main

    args = [
        "backtesting",
        "--config",
        str(cfg_path),
        "--userdir",
        str(user_dir),
        "--strategy",
        "EmaCross",
        "--timerange",
        f"{start}-{end}",
        "--export",
        "none",
        "--cache",
        "none",
    ]
    try:
        freqtrade_main(args)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    with open("/proc/self/status") as f:  # this process's peak resident set (VmHWM), for run.py
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"rss_mb": peak}))


if __name__ == "__main__":
    main()
