"""Each emulated venue's own names for BTC spot and its USDT perpetual."""

BTC = {
    "binance": ("BTCUSDT", "BTCUSDT"),
    "bybit": ("BTCUSDT", "BTCUSDT"),
    "okx": ("BTC-USDT", "BTC-USDT-SWAP"),
}
