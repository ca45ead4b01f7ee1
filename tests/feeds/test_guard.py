"""The price guard: broken prints never become marks; real moves are confirmed; funding is never dropped."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import NS_PER_SEC, FundingSettlement
from bot.feeds.guard import GuardBounds, PriceGuard
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, T0, batch, snap

H8 = 8 * 3600 * NS_PER_SEC
OKX_PERP = "okx:BTC/USDT:USDT"
BYBIT_PERP = "bybit:BTC/USDT:USDT"


def at(k: int, **prices: float):
    ids = {"spot": BTC_SPOT, "perp": BTC_PERP, "okx": OKX_PERP, "bybit": BYBIT_PERP}
    return batch(*(snap(ids[name], p, ts_ns=T0 + k * H8) for name, p in prices.items()))


def marks(b):
    return {s.instrument_id: (s.mark, s.suspect) for s in b.snapshots}


def test_a_spike_on_one_instrument_is_replaced_by_the_last_trusted_price() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, spot=60_000, perp=60_010, okx=60_020))
    out = g.screen(at(1, spot=60_500, perp=60_000_000, okx=60_520))
    assert marks(out)[BTC_PERP] == (60_010, True) and marks(out)[BTC_SPOT] == (60_500, False)
    assert g.flagged == 1 and g.take_flagged()[0].reason in ("cross", "jump")
    out = g.screen(at(2, spot=61_000, perp=61_010, okx=61_020))  # back to normal: trusted again
    assert marks(out)[BTC_PERP] == (61_010, False)


def test_the_bar_after_a_spike_loses_its_range() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, perp=60_000))
    g.screen(at(1, perp=60_000_000))
    nxt = batch(snap(BTC_PERP, 60_100, ts_ns=T0 + 2 * H8, high=60_000_000.0, low=59_000.0))
    (s,) = g.screen(nxt).snapshots
    assert s.range_high is None and s.range_low is None and not s.suspect


def test_a_settlement_on_a_suspect_print_is_kept() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, perp=60_000))
    spiked = replace(
        snap(BTC_PERP, 60_000_000, ts_ns=T0 + H8), settlement=FundingSettlement(T0 + H8, 0.0003), funding_rate=0.0003
    )
    (s,) = g.screen(batch(spiked)).snapshots
    assert s.suspect and s.mark == 60_000 and s.settlement == FundingSettlement(T0 + H8, 0.0003)


def test_a_real_crash_everyone_shares_is_trusted_at_once_and_a_lone_one_after_it_persists() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, spot=60_000, perp=60_000, okx=60_000))
    out = g.screen(at(1, spot=40_000, perp=40_100, okx=40_050))  # -33% everywhere: within the jump bound
    assert not any(s.suspect for s in out.snapshots)
    lone = PriceGuard(INSTRUMENTS)
    lone.screen(at(0, perp=60_000))
    assert marks(lone.screen(at(1, perp=20_000)))[BTC_PERP] == (60_000, True)  # -67% with no one to agree
    assert marks(lone.screen(at(2, perp=20_100)))[BTC_PERP] == (20_100, False)  # persisted: the new level
    assert lone.confirmed == 1


def test_a_print_the_other_venues_contradict_stays_suspect_however_long_it_lasts() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, spot=60_000, perp=60_000, okx=60_000, bybit=60_000))
    for k in range(1, 6):
        out = g.screen(at(k, spot=60_000, perp=6_000, okx=60_000, bybit=60_000))
        assert marks(out)[BTC_PERP] == (60_000, True)


def test_both_legs_of_one_venue_spiked_are_caught_by_their_own_history() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(at(0, spot=60_000, perp=60_000))
    out = g.screen(at(1, spot=60_000_000, perp=60_000_000))
    assert all(s.suspect for s in out.snapshots)


def test_a_first_print_with_nothing_to_stand_in_is_withheld() -> None:
    g = PriceGuard(INSTRUMENTS)
    out = g.screen(at(0, spot=60_000, perp=6_000_000, okx=60_000, bybit=60_010))
    # the perp's witnesses (perps elsewhere, its own spot) all disagree; Binance spot's only witness is that perp,
    # so with no history either could be the broken one: both wait for their next print
    assert set(marks(out)) == {OKX_PERP, BYBIT_PERP}
    out = g.screen(at(1, spot=60_100, perp=60_050, okx=60_000, bybit=60_010))
    assert set(marks(out)) == {BTC_SPOT, BTC_PERP, OKX_PERP, BYBIT_PERP}


def test_a_perp_whose_index_is_broken_keeps_its_last_trusted_index() -> None:
    g = PriceGuard(INSTRUMENTS)
    g.screen(batch(snap(BTC_PERP, 60_000, ts_ns=T0, index=60_000)))
    (s,) = g.screen(batch(snap(BTC_PERP, 60_100, ts_ns=T0 + H8, index=60_000_000))).snapshots
    assert s.index == 60_000 and not s.suspect


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3), min_size=2, max_size=60), st.integers(0, 59), st.floats(3.0, 1e4))
def test_no_broken_print_ever_becomes_a_mark(moves, at_bar, factor) -> None:
    """Random walks of up to ±30% a bar on spot and perp together, one bar of the perp multiplied by 3–10,000:
    every mark the bot sees stays within the walk's own range."""
    g = PriceGuard(INSTRUMENTS, GuardBounds())
    px = 60_000.0
    seen_lo, seen_hi = px, px
    for k, m in enumerate(moves):
        px *= 1.0 + m
        seen_lo, seen_hi = min(seen_lo, px), max(seen_hi, px)
        perp = px * factor if k == at_bar else px
        for s in g.screen(at(k, spot=px, perp=perp)).snapshots:
            assert seen_lo * 0.999 <= s.mark <= seen_hi * 1.001
