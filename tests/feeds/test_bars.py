import math
from collections import Counter
from datetime import UTC, datetime

from bot.feeds.bars import load_bars

HEADER = "ts,venue,base,kind,open,high,low,close,volume,funding_rate\n"


def test_bundled_dataset_is_complete_and_utc_aligned() -> None:
    bars = load_bars()
    assert len(bars.bars) == 19_704
    assert not bars.rejected
    series = Counter((b.venue, b.base, b.kind) for b in bars.bars)
    assert len(series) == 12 and set(series.values()) == {1_642}
    assert {datetime.fromtimestamp(b.ts, UTC).hour for b in bars.bars} == {0, 8, 16}
    assert datetime.fromtimestamp(bars.bars[0].ts, UTC) == datetime(2023, 1, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(bars.bars[-1].ts, UTC) == datetime(2024, 7, 1, tzinfo=UTC)
    assert all(b.funding_rate is not None for b in bars.bars if b.kind == "perp")
    assert all(b.funding_rate is None for b in bars.bars if b.kind == "spot")


def test_bad_rows_are_skipped_and_counted(tmp_path) -> None:
    f = tmp_path / "bars.csv"
    f.write_text(
        HEADER
        + "100,okx,BTC,spot,10,11,9,10,1,\n"
        + "100,okx,BTC,perp,nan,11,9,10,1,0.0001\n"  # NaN price
        + "200,okx,BTC,spot,0,11,0,10,1,\n"  # zero price
        + "200,okx,BTC,perp,-5,11,9,10,1,0.0001\n"  # negative price
        + "300,okx,BTC,perp,10,9,11,10,1,0.0001\n"  # high below low
        + "400,okx,BTC,perp,10,11,9,10,1,x\n"  # unreadable funding
        + "500,okx,BTC,perp,10,11,9,10,1,inf\n"  # infinite funding
        + "50,okx,BTC,spot,10,11,9,10,1,\n"  # goes back in time for its series
        + "600,okx,BTC,perp,10,11,9,10,1,0.0002\n"
    )
    bars = load_bars(f)
    assert [(b.ts, b.kind) for b in bars.bars] == [(100, "spot"), (600, "perp")]
    assert bars.rejected == Counter(bad_price=3, inconsistent_range=1, bad_funding=2, non_monotonic=1)
    assert not any(math.isnan(b.open) for b in bars.bars)


def test_filters_by_venue_base_and_dates() -> None:
    from datetime import date

    bars = load_bars(venues=("okx",), bases=("ETH",), start=date(2024, 1, 1), end=date(2024, 1, 2))
    assert {(b.venue, b.base) for b in bars.bars} == {("okx", "ETH")}
    assert len(bars.bars) == 6  # 3 bars × spot/perp
