"""Funding accrues at each venue's own settlement times: over one day a 1h venue pays 24 times, an 8h venue 3."""

from dataclasses import replace
from decimal import Decimal

from bot.domain import NS_PER_SEC, FundingSettlement, IntentLeg, MarketBatch, OrderIntent, Origin, Purpose, Side
from tests.helpers import BTC_PERP, INSTRUMENTS, rules, snap
from tests.scenario_kit import BYBIT_PERP, run

H = 3600 * NS_PER_SEC
DAY0 = 1_700_006_400 * NS_PER_SEC  # 2023-11-15 00:00 UTC


def test_hourly_and_eight_hourly_venues_over_one_day() -> None:
    inst = dict(INSTRUMENTS)
    inst[BYBIT_PERP] = replace(INSTRUMENTS[BYBIT_PERP], funding_interval_secs=3600)
    batches = []
    for h in range(25):  # 00:00 .. next day 00:00
        ts = DAY0 + h * H
        b = snap(BTC_PERP, 60_000.0, ts_ns=ts, rate=0.0001, half_spread=3.0)
        b = replace(
            b, settlement=FundingSettlement(ts, 0.0001) if h % 8 == 0 else None, ts_next_funding_ns=ts + (8 - h % 8) * H
        )
        y = replace(
            snap(BTC_PERP, 60_000.0, ts_ns=ts, rate=0.0000125, half_spread=3.0),
            instrument_id=BYBIT_PERP,
            funding_interval_secs=3600,
            settlement=FundingSettlement(ts, 0.0000125),
            ts_next_funding_ns=ts + H,
        )
        batches.append(MarketBatch(ts, (b, y)))

    def enter(view, now):
        return [
            OrderIntent(
                "x",
                Origin.STRATEGY,
                "t",
                Purpose.ENTRY,
                (
                    IntentLeg(BTC_PERP, Side.BUY, Decimal("0.2"), leverage=2),
                    IntentLeg(BYBIT_PERP, Side.SELL, Decimal("0.2"), leverage=2),
                ),
                now,
            )
        ]

    ex = run(batches, {0: enter}, rules(g6={"entries_post_only": False}), instruments=inst)
    pays = ex.stats.funding_log
    assert sum(1 for p in pays if p.instrument_id == BYBIT_PERP) == 24
    assert sum(1 for p in pays if p.instrument_id == BTC_PERP) == 3
    # both legs pay/receive 0.01% a day in total: the short hourly leg receives, the long 8h leg pays
    hourly = sum(p.amount for p in pays if p.instrument_id == BYBIT_PERP)
    eight = sum(p.amount for p in pays if p.instrument_id == BTC_PERP)
    assert hourly == Decimal("0.2") * 60_000 * Decimal("0.0000125") * 24
    assert eight == -Decimal("0.2") * 60_000 * Decimal("0.0001") * 3
