"""One assembly: every strategy, paper-execution and execution setting reaches the bot on each path that builds
one — backtest, paper run (with its store), live paper, live orders and scenarios (issue 13: the live and scenario
copies of the assembly used to drop ``partial_fill_fraction`` and ``borrow``)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.assembly import Bot, assemble_live, build_bot
from bot.governor.rules_config import RulesConfig, load_rules
from bot.scenarios.catalog import SCENARIOS
from bot.scenarios.runner import run_batches
from bot.settings import Settings
from bot.store.run import open_persistence
from bot.strategies.borrow import BorrowCurve
from bot.venues.fees import default_instruments
from bot.venues.gateway import Balance
from bot.venues.paper import PaperVenue

CURVE = {"base_apr": 0.031, "slope1": 0.2, "slope2": 2.5, "kink": 0.7, "pool_borrows_usd": 1e6, "pool_cash_usd": 2e6}


def unusual(tmp: Path) -> Settings:
    """Settings with every field this test follows away from its default."""
    return Settings(
        data_dir=tmp,
        replay={"start": "2024-02-01", "end": "2024-02-20", "venues": ("binance", "okx"), "bases": ("BTC",)},
        paper={
            "initial_balance_usd": 12_345,
            "latency_ms": 7,
            "slippage_bps": 1.25,
            "impact_bps_per_million_usd": 3.5,
            "partial_fill_fraction": 0.4,
        },
        borrow={"enabled": True, "margin_pct": "0.3", "curve": CURVE},
        execution={"entry_ttl_secs": 4_321},
        db={"commit_lag_secs": 0.05},
        strategy={
            "active": ["s1", "s3"],
            "s1": {"entry_threshold_apr": 0.33, "holding_days": 17},
            "s3": {"entry_threshold_apr": 0.44, "leverage": 3},
        },
    )


def check(bot: Bot, settings: Settings, rules: RulesConfig, paper: bool = True) -> None:
    ex = bot.executor
    assert ex.entry_ttl_secs == 4_321
    assert bot.governor.cfg is rules
    s1, s3 = bot.strategies
    assert s1.cfg == settings.strategy.s1 and s1.cfg.entry_threshold_apr == 0.33 and s1.cfg.holding_days == 17
    assert s3.cfg == settings.strategy.s3 and s3.cfg.entry_threshold_apr == 0.44 and s3.cfg.leverage == 3
    assert s1.borrow == BorrowCurve(**CURVE)  # type: ignore[attr-defined]
    if not paper:  # live: the venues' balances (test_live)
        return
    assert bot.ledger.initial_equity == Decimal(12_345) * len(bot.venues)
    assert bot.venues and all(isinstance(v, PaperVenue) for v in bot.venues.values())
    for venue in bot.venues.values():
        assert isinstance(venue, PaperVenue)
        p = venue.params
        assert p.initial_cash == Decimal(12_345) and p.latency_secs == pytest.approx(0.007)
        assert p.slippage_bps == 1.25 and p.impact_bps_per_million_usd == 3.5 and p.partial_fill_fraction == 0.4
        assert p.borrow == BorrowCurve(**CURVE) and p.borrow_margin_pct == Decimal("0.3")


def test_backtest(tmp_path: Path) -> None:
    settings, rules = unusual(tmp_path), load_rules()
    check(build_bot(settings, rules, "sim"), settings, rules)


def test_paper_run_with_its_store(tmp_path: Path) -> None:
    settings, rules = unusual(tmp_path), load_rules()

    async def go() -> None:
        p = await open_persistence(settings, "dv", {}, time.time_ns(), "test")
        try:
            bot = build_bot(settings, rules, "paced", p)
            check(bot, settings, rules)
            assert p.recorder.max_lag_secs == 0.05
            assert bot.executor.recorder is p.recorder
        finally:
            await p.close()

    asyncio.run(go())


class Loaded:
    """What the live assembly asks of a loaded gateway: its instruments and their funding intervals, and for live
    orders the account checks (a venue client that states no position mode, no key permissions, no leverage to set)
    and the balance the run opens with."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.instruments = {k: v for k, v in default_instruments((venue,), ("BTC",)).items()}
        self.symbols = {k: v.symbol for k, v in self.instruments.items()}
        self.ex = SimpleNamespace(has={})
        self.traded: set[str] = set()
        self.client_prefix = ""

    async def resolve_funding_interval(self, instrument_id: str) -> tuple[int | None, str]:
        return 8 * 3600, "test"

    async def call(self, what: str, fn: Any) -> Any:
        return await fn()

    async def fetch_balance(self) -> Balance:
        return Balance(Decimal("61000"), Decimal("61000"))


@pytest.mark.parametrize("live_orders", [False, True], ids=["live-paper", "live-orders"])
def test_live(tmp_path: Path, live_orders: bool) -> None:
    settings, rules = unusual(tmp_path), load_rules()
    gateways: dict[str, Any] = {v: Loaded(v) for v in ("binance", "okx")}
    bot = asyncio.run(assemble_live(settings, rules, gateways, live_orders=live_orders, stream=False))
    check(bot, settings, rules, paper=not live_orders)
    if live_orders:
        assert bot.venues == gateways  # orders go to the venues themselves
        assert bot.ledger.initial_equity == Decimal("122000")  # the venues' balances, not a paper setting
        assert gateways["okx"].traded == {"okx:BTC/USDT", "okx:BTC/USDT:USDT"}


def test_scenario(tmp_path: Path) -> None:
    settings, rules = unusual(tmp_path), load_rules()
    sc = SCENARIOS["funding-flip"]
    check(run_batches(sc.name, sc.batches(), settings, rules).bot, settings, rules)
