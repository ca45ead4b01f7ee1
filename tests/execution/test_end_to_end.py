"""End to end on the bundled history: the spine's promises, checked on a full paper run."""

from __future__ import annotations

import asyncio
import csv
import gzip
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from bot.assembly import Bot, build_bot
from bot.decisions import Outcome
from bot.domain import NS_PER_SEC
from bot.feeds.bars import bundled_path
from bot.governor.rules_config import load_rules
from bot.report import build_report
from bot.settings import Settings

pytestmark = pytest.mark.slow


def _run(settings: Settings | None = None) -> tuple[Bot, dict[str, Any]]:
    bot = build_bot(settings or Settings(), load_rules(), "sim")
    asyncio.run(bot.executor.run())
    return bot, build_report(bot)


@pytest.fixture(scope="module")
def full() -> tuple[Bot, dict[str, Any]]:
    return _run()


def test_equity_change_equals_the_sum_of_ledger_parts(full) -> None:
    bot, report = full
    change = Decimal(report["equity"]["change"])
    total = Decimal(report["ledger"]["total"])
    assert abs(change - total) <= abs(change) * Decimal("1e-9")
    end = Decimal(report["equity"]["end"])
    assert bot.ledger.equity(bot.executor.marks) == pytest.approx(end, rel=Decimal("1e-12"))
    assert report["counts"]["fills"] > 20 and report["counts"]["funding_payments"] > 1_000  # it really traded


def test_bot_positions_equal_the_venues(full) -> None:
    bot, _ = full
    venue_positions = {}
    for v in bot.venues.values():
        venue_positions.update({k: p.qty for k, p in asyncio.run(v.fetch_positions()).items()})
    ours = {k: b.qty for k, b in bot.ledger.legs.items() if b.qty}
    assert ours == venue_positions


def test_funding_income_matches_an_independent_recomputation_from_the_dataset(full) -> None:
    bot, report = full
    # positions over time from the fills alone
    fills = defaultdict(list)
    for f in bot.executor.stats.fills_log:
        fills[f.instrument_id].append(f)
    expected = Decimal(0)
    n = 0
    with gzip.open(bundled_path(), "rt") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] != "perp":
                continue
            iid = f"{row['venue']}:{row['base']}/USDT:USDT"
            ts = int(row["ts"]) * NS_PER_SEC
            held = sum(
                (f.signed_qty for f in fills[iid] if f.ts_ns < ts or (f.is_liquidation and f.ts_ns == ts)), Decimal(0)
            )
            if held:
                expected += -held * Decimal(row["open"]) * Decimal(row["funding_rate"])
                n += 1
    assert n == report["counts"]["funding_payments"]
    assert Decimal(report["ledger"]["funding"]) == expected


def test_two_runs_give_identical_reports(full) -> None:
    _, first = full
    _, second = _run()
    first = {k: v for k, v in first.items() if k != "timing"}
    second = {k: v for k, v in second.items() if k != "timing"}
    assert first == second


def test_no_order_reached_a_venue_without_an_approving_governor_decision(full) -> None:
    bot, report = full
    approved: dict[tuple[str, str], object] = {}
    for d in bot.audit.decisions:
        for o in d.orders:
            assert d.outcome in (Outcome.APPROVE, Outcome.RESIZE)
            approved[(d.decision_id, o.instrument_id)] = o
    received = [o for v in bot.venues.values() for o in v.received]
    assert len(received) == report["counts"]["orders_sent"] > 0
    sent: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for o in received:
        key = (o.decision_id, o.instrument_id)
        parent = approved.get(key)
        assert parent is not None, o  # every venue order belongs to an approving decision's leg ...
        assert o.side is parent.side and o.reduce_only == parent.reduce_only
        sent[key] += o.qty
    for key, qty in sent.items():
        assert qty <= approved[key].qty  # ... and hedge children never exceed the approved quantity


def test_bad_rows_are_skipped_counted_and_never_traded_on(tmp_path) -> None:
    src = gzip.open(bundled_path(), "rt").read().splitlines()
    header, rows = src[0], src[1:]
    keep = [r for r in rows if r.split(",")[1] == "okx" and r.split(",")[2] == "BTC"][:400]
    bad_ts = keep[250].split(",")[0]
    poisoned = [
        header,
        *keep[:250],
        f"{bad_ts},okx,BTC,perp,nan,1,1,1,1,0.0001",
        f"{bad_ts},okx,BTC,spot,-42,1,1,1,1,",
        f"{int(bad_ts) + 1},okx,BTC,perp,0,0,0,0,1,0.0001",
        *keep[250:],
    ]
    f = tmp_path / "poisoned.csv"
    f.write_text("\n".join(poisoned) + "\n")
    settings = Settings(
        replay={"file": f, "venues": ["okx"], "bases": ["BTC"]},
        strategy={"s1": {"funding_lookback_periods": 3, "entry_threshold_apr": 0.02, "exit_threshold_apr": 0.0}},
    )
    bot, report = _run(settings)
    assert report["counts"]["rows_rejected"] == {"bad_price": 3}
    assert report["counts"]["snapshots"] == 400
    assert all(f.price > 1_000 for f in bot.executor.stats.fills_log)
    assert Decimal(report["ledger"]["identity_residual"]).copy_abs() < Decimal("1e-12")


@pytest.mark.parametrize("strategy", ["s1", "s2", "s3"])
def test_every_strategy_backtests_with_a_balanced_ledger_and_hedged_books(strategy: str) -> None:
    bot, report = _run(Settings(strategy={"active": [strategy]}))
    change = Decimal(report["equity"]["change"])
    assert abs(change - Decimal(report["ledger"]["total"])) <= max(abs(change), Decimal(1)) * Decimal("1e-9")
    assert report["counts"]["orders_sent"] > 0
    # property over the whole run: no tick ends with more delta than G9 allows (legs are hedged on fill)
    assert report["counts"]["ticks_unhedged"] == 0
    assert report["counts"]["tick_end_unhedged_max_usd"] <= bot.rules.g9.max_unhedged_usd
    synthetic = report["run"]["synthetic_instruments"]
    assert bool(synthetic) is (strategy == "s3") and all(s.endswith("-SYN") for s in synthetic)
