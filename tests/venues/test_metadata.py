import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain import InstrumentKind
from bot.venues.metadata import MetadataError, binance_delivery_instruments, expiry_utc, okx_instruments

FIX = Path(__file__).parents[1] / "fixtures"


def test_okx_dated_futures_parse_with_their_expiry() -> None:
    inst = okx_instruments(json.loads((FIX / "okx_instruments_futures.json").read_text()))
    dec = inst["okx:BTC/USD:BTC-241227"]
    assert dec.kind is InstrumentKind.FUTURE and dec.inverse and dec.settle == "BTC"
    assert dec.contract_size == Decimal(100) and dec.price_tick == Decimal("0.1") and dec.qty_step == Decimal(1)
    assert expiry_utc(dec) == datetime(2024, 12, 27, 8, tzinfo=UTC)  # the last Friday of the quarter, 08:00 UTC
    assert all(i.kind is InstrumentKind.FUTURE for i in inst.values())


def test_binance_coin_m_quarterlies_and_perpetuals() -> None:
    inst = binance_delivery_instruments(json.loads((FIX / "binance_dapi_exchange_info.json").read_text()))
    sep = inst["binance:BTC/USD:BTC-210924"]
    assert expiry_utc(sep) == datetime(2021, 9, 24, 8, tzinfo=UTC)
    assert sep.contract_size == Decimal(100) and sep.maintenance_margin_rate == Decimal("0.025")
    perp = inst["binance:BTC/USD:BTC"]
    assert perp.kind is InstrumentKind.PERP and perp.funding_interval_secs == 8 * 3600 and perp.ts_expiry_ns is None
    assert "binance:BTC/USD:BTC-211231" in inst


@pytest.mark.parametrize("bad", [{"code": "50011", "msg": "Too Many Requests", "data": []}, {"data": None}])
def test_error_payloads_are_rejected_clearly(bad) -> None:
    with pytest.raises(MetadataError):
        okx_instruments(bad)
    with pytest.raises(MetadataError):
        binance_delivery_instruments({"code": -1121})
