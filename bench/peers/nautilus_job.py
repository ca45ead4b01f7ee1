"""NautilusTrader's BacktestEngine on the 45,031 one-minute BTC-perp bars: its own example strategy, ``EMACross``
(EMA 10/20, flipping long and short), on its Binance BTCUSDT perpetual test instrument with a margin account.

Runs inside NautilusTrader's own virtual environment (``bench/peers/run.py`` makes it); nothing of it is copied
here. Prints the number of orders and positions as a JSON line.

    <nautilus venv>/bin/python bench/peers/nautilus_job.py BARS.csv.gz
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider


def peak_mb() -> float:
    """This process's peak resident set (VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    df.index = pd.to_datetime(df.pop("timestamp"), utc=True)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=None,
        starting_balances=[Money(1_000_000, USDT)],
    )
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    engine.add_data(BarDataWrangler(bar_type, instrument).process(df))
    config = EMACrossConfig(
        instrument_id=instrument.id,
        bar_type=bar_type,
        trade_size=Decimal("0.010"),
        fast_ema_period=10,
        slow_ema_period=20,
        request_bars=False,
        subscribe_trade_ticks=False,
    )
    engine.add_strategy(EMACross(config))
    engine.run()
    orders = engine.trader.generate_order_fills_report()
    positions = engine.trader.generate_positions_report()
    engine.dispose()
    print(json.dumps({"bars": len(df), "orders_filled": len(orders), "positions": len(positions), "rss_mb": peak_mb()}))


if __name__ == "__main__":
    main()
