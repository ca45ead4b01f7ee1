from collections import Counter

from bot.domain import NS_PER_SEC
from bot.feeds.bars import Bar, BarSet
from bot.feeds.replay import ReplayFeed, SpreadModel
from bot.venues.fees import default_instruments

H8 = 8 * 3600


def _bars() -> BarSet:
    rows = []
    for i, (spot, perp, rate) in enumerate([(100.0, 100.2, 0.0001), (110.0, 110.1, -0.0002), (99.0, 99.3, 0.0003)]):
        ts = i * H8
        rows.append(Bar(ts, "okx", "BTC", "perp", perp, perp + 5, perp - 5, perp + 1, 10.0, rate))
        rows.append(Bar(ts, "okx", "BTC", "spot", spot, spot + 4, spot - 4, spot + 1, 10.0, None))
    return BarSet(tuple(rows), "test", Counter())


def test_snapshots_carry_open_prices_previous_range_and_settled_funding() -> None:
    inst = default_instruments(("okx",), ("BTC",))
    feed = ReplayFeed(_bars(), inst, SpreadModel(half_spread_bps_spot=10, half_spread_bps_perp=10, range_coef=0.0))
    batches = list(feed.iter_batches())
    assert [b.ts_ns for b in batches] == [0, H8 * NS_PER_SEC, 2 * H8 * NS_PER_SEC]
    first = {s.instrument_id: s for s in batches[0].snapshots}
    perp0 = first["okx:BTC/USDT:USDT"]
    assert perp0.mark == perp0.last == 100.2
    assert perp0.index == 100.0  # the venue's spot open
    assert perp0.range_high is None  # nothing finished yet: no look-ahead into the bar that just opened
    assert perp0.settlement is not None and perp0.settlement.rate == 0.0001 and perp0.settlement.ts_ns == 0
    assert abs(perp0.ask - perp0.bid - 2 * 100.2 * 10e-4) < 1e-9
    second = {s.instrument_id: s for s in batches[1].snapshots}
    perp1 = second["okx:BTC/USDT:USDT"]
    assert (perp1.range_high, perp1.range_low) == (105.2, 95.2)  # bar 0's range, seen at bar 1
    assert perp1.funding_rate == -0.0002
    assert perp1.ts_next_funding_ns == 2 * H8 * NS_PER_SEC
    assert second["okx:BTC/USDT"].settlement is None
