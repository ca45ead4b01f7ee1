import math
from collections import Counter
from datetime import UTC, datetime

from bot.feeds.bar_store import Bar, BarStore
from bot.feeds.bars import BarSet, load_bars
from bot.feeds.replay import ReplayFeed
from bot.venues.fees import default_instruments

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


def test_bars_are_kept_as_columns_in_time_order_and_read_back_as_the_rows_given(tmp_path) -> None:
    f = tmp_path / "bars.csv"
    f.write_text(
        HEADER
        + "200,okx,BTC,spot,10,11,9,10.5,1,\n"
        + "100,okx,BTC,perp,20,21,19,20.5,5,0.0001\n"  # out of order across series: sorted on load
        + "100,binance,BTC,spot,30,31,29,30.5,2,\n"
        + "200,okx,BTC,perp,20,22,18,21,3,\n"  # a perp bar with no settlement
    )
    bars = load_bars(f).bars
    assert isinstance(bars, BarStore)
    assert list(bars) == [
        Bar(100, "binance", "BTC", "spot", 30.0, 31.0, 29.0, 30.5, 2.0, None),
        Bar(100, "okx", "BTC", "perp", 20.0, 21.0, 19.0, 20.5, 5.0, 0.0001),
        Bar(200, "okx", "BTC", "perp", 20.0, 22.0, 18.0, 21.0, 3.0, None),
        Bar(200, "okx", "BTC", "spot", 10.0, 11.0, 9.0, 10.5, 1.0, None),
    ]
    assert bars[-1] == bars[3] and bars[1:3] == [bars[1], bars[2]]
    assert len(bars.series) == 3 and len(bars) == 4


def _minute_bars(n: int) -> list[Bar]:
    out = []
    for k in range(n):
        px = 100.0 + math.sin(k / 7.0)
        out.append(Bar(60 * k, "binance", "BTC", "perp", px, px + 1, px - 1, px, 5.0, 0.0001 if k % 480 == 0 else None))
        out.append(Bar(60 * k, "binance", "BTC", "spot", px - 0.1, px + 0.9, px - 1.1, px, 7.0, None))
    return out


def test_a_history_longer_than_a_chunk_streams_from_a_temporary_file_and_plays_the_same() -> None:
    """Only the last chunk stays in memory; the others are written out as they fill and read back in turn. Every
    chunk ends with its timestamp, so the batches are those of the history held whole."""
    rows = _minute_bars(2_500)
    builder = BarStore.builder(chunk_rows=999)  # odd: a chunk fills between a perp row and its spot row
    for b in rows:
        builder.append(b)
    spilled = builder.build()
    whole = BarStore.from_bars(rows)
    assert spilled.spilled_chunks == 4 and whole.spilled_chunks == 0
    assert list(spilled) == rows and spilled[0] == rows[0] and spilled[-1] == rows[-1] and spilled[1500] == rows[1500]
    inst = default_instruments(("binance",), ("BTC",))
    a = list(ReplayFeed(BarSet(spilled, "v", Counter()), inst).iter_batches())
    b = list(ReplayFeed(BarSet(whole, "v", Counter()), inst).iter_batches())
    assert len(a) == 2_500 and a == b
    bounds = [(c.ts[0], c.ts[-1]) for c in spilled.chunks()]
    assert all(last < first for (_, last), (first, _) in zip(bounds, bounds[1:], strict=False))  # no batch split


def test_rows_out_of_time_order_are_sorted_even_past_a_chunk() -> None:
    rows = _minute_bars(600)
    builder = BarStore.builder(chunk_rows=100)
    for b in reversed(rows):
        builder.append(b)
    store = builder.build()
    assert list(store) == sorted(rows, key=lambda b: (b.ts, b.venue, b.base, b.kind))
    assert store.spilled_chunks == 0  # put in order in memory


def test_a_row_costs_tens_of_bytes_not_hundreds() -> None:
    """45,031 one-minute bars of spot and perp took 55 MB as one tuple of floats per row; as columns, 58 bytes."""
    store = BarStore.from_bars(_minute_bars(500))
    (chunk,) = store.chunks()
    assert chunk.nbytes() / len(chunk) == 58
