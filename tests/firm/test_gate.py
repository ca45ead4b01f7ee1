"""The door with a firm budget: an entry reserves its share before its orders are written ahead, the reservation
ends when its orders are done; when the firm store cannot be reached entries are refused (firm_unreachable) and
risk reduction goes on. The real executor, governor and paper venue, and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.decisions import DenyCode, Outcome
from bot.domain import IntentLeg, OrderIntent, Origin, Purpose, Side
from bot.firm.budget import FirmBudget
from bot.firm.gate import FirmGate
from bot.governor.rules_config import FirmConfig
from bot.store.repository import Store
from bot.telemetry.metrics import Metrics
from tests.helpers import BTC_PERP, BTC_SPOT, INSTRUMENTS, hit, rules
from tests.pg import fresh_pg_db, pg_rows
from tests.scenario_kit import audit_of, path, run

CLOSED = "postgresql+asyncpg://carrybot:x@127.0.0.1:9/none"  # nothing listens on port 9


def _pair(qty: str, purpose: Purpose = Purpose.ENTRY):
    """A spot-perp pair: an entry buys spot and sells the perp; an exit does the opposite."""
    spot, perp = (Side.BUY, Side.SELL) if purpose is Purpose.ENTRY else (Side.SELL, Side.BUY)

    def make(view, now):
        q = Decimal(qty)
        legs = (IntentLeg(BTC_SPOT, spot, q), IntentLeg(BTC_PERP, perp, q))
        return [OrderIntent(f"{purpose.value}-{now}", Origin.STRATEGY, "t", purpose, legs, now)]

    return make


def _gate(url: str, cfg: FirmConfig, bot_id: str = "a") -> FirmGate:
    return FirmGate(FirmBudget(url, "desk", bot_id, cfg), INSTRUMENTS, sync_secs=0.0, timeout_secs=5.0)


def test_entries_reserve_before_they_are_sent_and_the_firm_cap_refuses_the_one_that_does_not_fit() -> None:
    url = fresh_pg_db()
    asyncio.run(Store(url).upgrade())
    cfg = FirmConfig(max_gross_asset_usd=100_000)  # one 0.5 BTC pair is 60k gross: the second does not fit
    gate = _gate(url, cfg)
    ex = run(path([60_000.0] * 8), {0: _pair("0.5"), 3: _pair("0.5")}, rules(), firm=gate)
    decisions = [d for d in audit_of(ex).decisions if d.intent.origin is Origin.STRATEGY]
    assert decisions[0].outcome is not Outcome.REJECT
    refused = hit(decisions[1], DenyCode.FIRM_GROSS_ASSET)
    assert decisions[1].outcome is Outcome.REJECT and not decisions[1].orders and refused is not None
    assert refused.inputs["gross_usd"] == 60_000.0 and refused.inputs["cap_usd"] == 100_000.0
    assert ex.ledger.qty(BTC_SPOT) == Decimal("0.5")  # only the first entry traded
    assert gate.outcomes["reserved"] == 1 and gate.outcomes["converted"] == 1
    actions = asyncio.run(pg_rows(url, "SELECT action, code FROM firm_audit ORDER BY id"))
    assert actions == [("reserved", None), ("converted", None), ("refused", "firm_gross_asset")]
    exposure = asyncio.run(pg_rows(url, "SELECT asset, gross_usd, net_usd FROM firm_exposure"))
    assert exposure == [("BTC", 60_000.0, 0.0)]  # the last report: what it holds, at mark


def test_an_unreachable_firm_stops_entries_and_lets_risk_reduction_through() -> None:
    url = fresh_pg_db()
    asyncio.run(Store(url).upgrade())
    gate = _gate(url, FirmConfig())
    state: dict[str, FirmBudget] = {}

    def cut(view, now):  # the firm's database goes away between the entry and the next ones
        state["old"] = gate.budget
        gate.budget = FirmBudget(CLOSED, "desk", "a", FirmConfig())
        return []

    plan = {0: _pair("0.5"), 2: cut, 3: _pair("0.2"), 5: _pair("0.5", Purpose.EXIT)}
    ex = run(path([60_000.0] * 8), plan, rules(), firm=gate)
    decisions = [d for d in audit_of(ex).decisions if d.intent.origin is Origin.STRATEGY]
    assert [d.intent.purpose for d in decisions] == [Purpose.ENTRY, Purpose.ENTRY, Purpose.EXIT]
    assert hit(decisions[1], DenyCode.FIRM_UNREACHABLE) is not None and not decisions[1].orders
    assert decisions[2].orders and decisions[2].risk_reducing  # the exit went out without asking the firm
    assert ex.ledger.qty(BTC_SPOT) == 0 and ex.ledger.qty(BTC_PERP) == 0
    assert gate.outcomes["firm_unreachable"] == 1 and not gate.reachable


def test_every_outcome_is_exported_from_the_start_so_rate_sees_the_first_one() -> None:
    """Prometheus's rate() cannot see a counter series' first increment: a series that appears at 1 rates 0 (the CI
    run of stop 31 found the firm view's reservation panel empty after both instances had reserved)."""
    gate = FirmGate(FirmBudget(CLOSED, "desk", "a", FirmConfig()), INSTRUMENTS, sync_secs=0.0, timeout_secs=2.0)
    metrics = Metrics()
    ex = run(path([60_000.0] * 4), {}, rules(), firm=gate)  # nothing asked the firm yet
    metrics.watch(ex)
    text = generate_latest(metrics.registry).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    outcomes = {s.labels["outcome"]: s.value for s in fams["carrybot_firm_reservations"].samples}
    assert outcomes["reserved"] == 0 and outcomes["converted"] == 0 and outcomes["released"] == 0
    assert {c.value for c in DenyCode if c.value.startswith("firm_")} <= set(outcomes)
