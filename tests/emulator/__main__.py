"""Run the venue emulator as its own process: ``python -m tests.emulator --port 8765``.

A living Binance account (spot + USDⓈ-M), a Bybit Unified Trading Account and an OKX unified account on loopback:
one BTC price walks (seeded) and every venue quotes it, each perpetual settles funding every ``--funding-every``
seconds at its rate (``--rate``; income records, wallet credits, the next settlement time on ``premiumIndex`` / the
ticker), and the control API (``/_emu/price``, ``/_emu/rate``, ``/_emu/fund``, ``/_emu/fault``, ``/_emu/state``, each
with ``venue=binance|bybit|okx``) lets a test or a person drive them. Prints ``emulator: <url>`` once it listens;
point the bot at it with ``CARRYBOT_EXCHANGES__<VENUE>__API_URL=<url>`` and the keys (and OKX passphrase) given
here. Nothing here reaches a real venue."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
from decimal import Decimal

from tests.emulator.binance import BinanceDialect, binance_account
from tests.emulator.bybit import BybitDialect, bybit_account
from tests.emulator.names import BTC
from tests.emulator.okx import OkxDialect, okx_account
from tests.emulator.server import Emulator


async def main(args: argparse.Namespace) -> None:
    key, secret = args.keys.split(":", 1)
    binance = BinanceDialect(binance_account(args.spot_usdt, args.futures_usdt), key, secret)
    bybit = BybitDialect(bybit_account(args.bybit_usdt), key, secret)
    okx = OkxDialect(okx_account(args.okx_usdt), key, secret, args.passphrase)
    dialects: list[BinanceDialect | BybitDialect | OkxDialect] = [binance, bybit, okx]
    emu = Emulator()
    for d in dialects:
        d.acct.half_spread = Decimal(args.half_spread)
        emu.add(d)
    rng = random.Random(args.seed)
    price = Decimal(args.price)
    basis = Decimal(args.basis)

    def quote(px: Decimal) -> None:
        for d in dialects:
            spot, perp = BTC[d.venue]
            spot_tick = d.acct.rules[("spot", spot)].price_tick
            perp_tick = d.acct.rules[("linear", perp)].price_tick
            d.acct.set_price("spot", spot, (px / spot_tick).to_integral_value() * spot_tick)
            d.acct.set_price("linear", perp, (px * (1 + basis) / perp_tick).to_integral_value() * perp_tick)

    quote(price)
    every_ms = int(args.funding_every * 1000)
    for d in dialects:
        d.funding_rate[BTC[d.venue][1]] = Decimal(args.rate)
        d.next_funding_ms[BTC[d.venue][1]] = d.acct.now_ms() + every_ms
    await emu.start(args.port)
    print(f"emulator: {emu.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            step = Decimal(str(rng.gauss(0.0, args.vol_per_step)))
            price = max(Decimal(1), price * (1 + step))
            if not any(d.frozen for d in dialects):  # a freeze on either venue stops the one walk
                quote(price)
            for d in dialects:
                perp = BTC[d.venue][1]
                if d.acct.now_ms() >= d.next_funding_ms[perp]:
                    d.acct.settle_funding(perp, d.funding_rate[perp])
                    d.next_funding_ms[perp] += every_ms
            try:
                await asyncio.wait_for(stop.wait(), args.step_secs)
            except TimeoutError:
                pass
    finally:
        await emu.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--keys", default="emu-key:emu-secret", help="API key:secret the venue accepts")
    p.add_argument("--spot-usdt", default="100000")
    p.add_argument("--futures-usdt", default="100000")
    p.add_argument("--bybit-usdt", default="200000", help="USDT in the Bybit unified account")
    p.add_argument("--okx-usdt", default="200000", help="USDT in the OKX unified account")
    p.add_argument("--passphrase", default="emu-pass", help="the OKX API passphrase the venue accepts")
    p.add_argument("--price", default="60000", help="BTC spot price to start from")
    p.add_argument("--basis", default="0.0005", help="perp over spot, as a fraction")
    p.add_argument("--rate", default="0.0003", help="funding rate per settlement")
    p.add_argument("--funding-every", type=float, default=8 * 3600.0, help="seconds between settlements")
    p.add_argument("--step-secs", type=float, default=0.25, help="seconds between price steps")
    p.add_argument("--vol-per-step", type=float, default=0.00005, help="relative price move per step (std dev)")
    p.add_argument("--half-spread", default="0.00005", help="bid and ask either side of the price, as a fraction")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
