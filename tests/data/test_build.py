import csv
import gzip
from datetime import UTC, datetime

import pytest

from bot.data.build import HEADER, build, london_to_utc


@pytest.mark.parametrize(
    "naive, expected",
    [
        ("2023-01-01 00:00", "2023-01-01 00:00"),  # winter: London = UTC
        ("2023-07-01 01:00", "2023-07-01 00:00"),  # summer: BST = UTC+1
        ("2023-07-01 17:00", "2023-07-01 16:00"),
        ("2023-03-26 00:00", "2023-03-26 00:00"),  # spring change day, before the jump
        ("2023-03-26 09:00", "2023-03-26 08:00"),  # after the jump
        ("2023-10-29 01:00", "2023-10-29 00:00"),  # autumn: 01:00 happens twice; the aligned reading is 00:00 UTC
        ("2023-10-29 08:00", "2023-10-29 08:00"),
    ],
)
def test_london_stamps_become_aligned_utc(naive: str, expected: str) -> None:
    got = london_to_utc(datetime.fromisoformat(naive))
    assert got == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_unaligned_stamp_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="no unique aligned"):
        london_to_utc(datetime(2023, 7, 1, 3, 0))


def test_build_keeps_usdt_series_converts_time_and_copies_values(tmp_path) -> None:
    src = tmp_path / "all.csv"
    src.write_text(
        "time,exchange,crypto,pair,contract,open,high,low,close,volume,funding rate\n"
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDT,perpetual,30000.1,30100,29900,30050,12.5,0.00012345678\n"
        "2023-07-01 09:00:00,binance,bitcoin,BTCUSDCM,perpetual,30000,30100,29900,30050,12.5,0.0001\n"
        "2023-07-01 09:00:00,binance,bitcoin,BTC/USDT,spot,30001.2,30101,29901,30051,3.25,\n"
    )
    out = tmp_path / "out.csv.gz"
    assert build(src, out) == 2
    rows = list(csv.reader(gzip.open(out, "rt")))
    assert tuple(rows[0]) == HEADER
    ts = str(int(datetime(2023, 7, 1, 8, tzinfo=UTC).timestamp()))
    assert rows[1] == [ts, "binance", "BTC", "perp", "30000.1", "30100", "29900", "30050", "12.5", "0.00012345678"]
    assert rows[2] == [ts, "binance", "BTC", "spot", "30001.2", "30101", "29901", "30051", "3.25", ""]
