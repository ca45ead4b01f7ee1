"""NautilusTrader's per-order pre-trade check, timed the way ``bench/governor_latency.py`` times carrybot's
governor: its ``RiskEngine`` validating one limit order (price and quantity against the instrument) and then its
risk checks (max notional, free balance) — ``_check_order`` followed by ``_check_orders_risk``, the two steps of
``_handle_submit_order``, called directly so that matching and messaging are not counted.

Two accounts: none registered for the venue (the risk checks return at once) and a cash account with a balance (its
free balance is checked against the order's notional). NautilusTrader's risk checks also return at once for a
margin account (its source: "Determine risk controls for margin"), so a perpetual on a margin account is checked no
further than "no account".

    <nautilus venv>/bin/python bench/peers/nautilus_risk.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.execution import TestExecStubs


def timings(account: bool, n: int) -> list[float]:
    cfg = BacktestEngineConfig(
        logging=LoggingConfig(log_level="ERROR"),
        risk_engine=RiskEngineConfig(max_notional_per_order={"BTCUSDT.BINANCE": 5_000_000}),
    )
    engine = BacktestEngine(cfg)
    instrument = TestInstrumentProvider.btcusdt_binance()  # spot: a cash account is checked in full
    if account:
        engine.add_venue(
            venue=Venue("BINANCE"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            base_currency=None,
            starting_balances=[Money(10_000_000, USDT)],
        )
        engine.add_instrument(instrument)
    else:  # the instrument known, no venue and so no account
        engine.kernel.cache.add_instrument(instrument)
    risk = engine.kernel.risk_engine
    if account:  # the simulated exchange registers its account when the engine starts
        engine.run()
        assert engine.kernel.cache.account_for_venue(Venue("BINANCE")) is not None
    orders = [
        TestExecStubs.limit_order(
            instrument=instrument,
            order_side=OrderSide.BUY if k % 2 else OrderSide.SELL,
            price=Price.from_str(f"{50_000 + (k % 200) * 0.5:.2f}"),
            quantity=Quantity.from_str(f"{0.001 * (1 + k % 50):.6f}"),
        )
        for k in range(n)
    ]
    out = []
    perf = time.perf_counter_ns
    for order in orders:
        t0 = perf()
        ok = risk._check_order(instrument, order) and risk._check_orders_risk(instrument, [order])
        out.append((perf() - t0) / 1000)
        assert ok
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    result = {}
    for name, account in (("no_account", False), ("cash_account", True)):
        us = sorted(timings(account, args.n))
        result[name] = {
            "p50": statistics.median(us),
            "p90": us[int(0.9 * len(us))],
            "p99": us[int(0.99 * len(us))],
            "max": us[-1],
            "n": len(us),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
