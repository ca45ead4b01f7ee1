from datetime import UTC, datetime

import pytest

from bot.domain import NS_PER_SEC, InstrumentKind
from bot.feeds.bars import load_bars
from bot.feeds.futures_gen import SyntheticFuturesFeed
from bot.feeds.replay import ReplayFeed
from bot.settings import FuturesSettings
from bot.strategies.s3_basis import basis_annualized
from bot.venues.fees import default_instruments


def _feed(seed: int = 7) -> SyntheticFuturesFeed:
    from datetime import date

    inst = default_instruments(("okx",), ("BTC",))
    bars = load_bars(venues=("okx",), bases=("BTC",), start=date(2023, 1, 1), end=date(2023, 7, 1))
    return SyntheticFuturesFeed(ReplayFeed(bars, inst), FuturesSettings(seed=seed), inst)


def test_contracts_use_real_expiries_and_are_labelled_synthetic() -> None:
    feed = _feed()
    expiries = sorted({datetime.fromtimestamp(i.ts_expiry_ns / NS_PER_SEC, UTC) for i in feed.futures.values()})
    assert expiries[:3] == [
        datetime(2023, 3, 31, 8, tzinfo=UTC),
        datetime(2023, 6, 30, 8, tzinfo=UTC),
        datetime(2023, 9, 29, 8, tzinfo=UTC),
    ]
    assert all(
        i.synthetic and i.kind is InstrumentKind.FUTURE and i.symbol.endswith("-SYN") for i in feed.futures.values()
    )
    assert feed.data_version.endswith("+syn7")


def test_basis_is_the_generated_rate_and_converges_to_zero_at_expiry() -> None:
    feed = _feed()
    march = next(i for i in feed.futures.values() if i.symbol.startswith("BTC/USDT:USDT-230331"))
    seen = []
    for b in feed.iter_batches():
        snaps = {s.instrument_id: s for s in b.snapshots}
        f = snaps.get(march.id)
        if f is None:
            continue
        spot = snaps["okx:BTC/USDT"]
        t_days = (march.ts_expiry_ns - b.ts_ns) / (86_400 * NS_PER_SEC)
        seen.append((t_days, f.mid, spot.mid))
    assert seen[-1][0] == 0 and seen[-1][1] == pytest.approx(seen[-1][2])  # F = S at expiry
    early = [basis_annualized(f, s, t) for t, f, s in seen if t > 30]
    assert 0.0 < sum(early) / len(early) < 0.25  # mean-reverting around 10%/yr
    assert len({round(x, 6) for x in early}) > 10  # it moves


def test_same_seed_same_path() -> None:
    a = [s.mark for b in _feed(3).iter_batches() for s in b.snapshots]
    b = [s.mark for b in _feed(3).iter_batches() for s in b.snapshots]
    c = [s.mark for b in _feed(4).iter_batches() for s in b.snapshots]
    assert a == b and a != c
