"""G4 on intents: no new leveraged position within 48h of a final trading time; final-week entries halved;
funding signals discounted in the two weeks before."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.decisions import DenyCode, Outcome
from bot.domain import NS_PER_SEC, IntentLeg, OrderIntent, Origin, Purpose, Side
from tests.helpers import BTC_PERP, BTC_SPOT, account, governor, hit, pair_intent, snap

BINANCE_MAR24 = int(datetime(2024, 3, 29, 8, tzinfo=UTC).timestamp()) * NS_PER_SEC
CME_MAR24 = int(datetime(2024, 3, 28, 16, tzinfo=UTC).timestamp()) * NS_PER_SEC
H = 3600 * NS_PER_SEC


def _decide(now: int, intent: OrderIntent | None = None, **rules):
    g = governor(**rules)
    market = {BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=now), BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=now)}
    g.on_tick(account(), market, now)
    return g.decide(intent or pair_intent(ts_ns=now), account(), market, now)


@pytest.mark.parametrize(
    "hours_before_cme, code, scale",
    [
        (47, DenyCode.EXPIRY_BLACKOUT, 0.0),
        (1, DenyCode.EXPIRY_BLACKOUT, 0.0),
        (49, DenyCode.EXPIRY_FINAL_WEEK, 0.5),
        (6 * 24, DenyCode.EXPIRY_FINAL_WEEK, 0.5),
    ],
)
def test_blackout_and_final_week(hours_before_cme: int, code: DenyCode, scale: float) -> None:
    d = _decide(CME_MAR24 - hours_before_cme * H)
    h = hit(d, code)
    assert h is not None and h.rule == "G4" and h.max_scale == scale
    assert d.outcome is (Outcome.REJECT if scale == 0 else Outcome.RESIZE)


def test_the_crypto_venue_expiry_blackout_follows_the_cme_one() -> None:
    d = _decide(CME_MAR24 + H)  # CME done; Binance expires in 15h
    assert hit(d, DenyCode.EXPIRY_BLACKOUT) is not None
    assert _decide(BINANCE_MAR24 + H).outcome is Outcome.APPROVE  # both past: free again


def test_spot_only_entry_is_not_leveraged_and_passes_the_blackout_at_final_week_size() -> None:
    now = CME_MAR24 - 10 * H
    spot = OrderIntent("s", Origin.STRATEGY, "t", Purpose.ENTRY, (IntentLeg(BTC_SPOT, Side.BUY, Decimal("0.2")),), now)
    d = _decide(now, spot, g7={"max_net_venue_usd": 25_000})
    assert hit(d, DenyCode.EXPIRY_BLACKOUT) is None and hit(d, DenyCode.EXPIRY_FINAL_WEEK).max_scale == 0.5


@pytest.mark.parametrize("edge, refused", [(0.08, True), (0.099, True), (0.10, False), (0.20, False), (None, False)])
def test_funding_signals_are_discounted_in_the_two_weeks_before(edge, refused) -> None:
    now = CME_MAR24 - 10 * 24 * H
    intent = OrderIntent("f", Origin.STRATEGY, "t", Purpose.ENTRY, pair_intent(ts_ns=now).legs, now, edge_apr=edge)
    d = _decide(now, intent)
    h = hit(d, DenyCode.EXPIRY_FUNDING_DISCOUNT)
    assert (h is not None) is refused
    if refused:
        assert h.inputs["edge_apr"] == edge and h.inputs["discount"] == 0.5


def test_exits_pass_inside_the_blackout() -> None:
    now = CME_MAR24 - 2 * H
    g = governor()
    held = {BTC_SPOT: 0.5, BTC_PERP: -0.5}
    market = {BTC_SPOT: snap(BTC_SPOT, 60_000.0, ts_ns=now), BTC_PERP: snap(BTC_PERP, 60_000.0, ts_ns=now)}
    g.on_tick(account(positions=held), market, now)
    d = g.decide(pair_intent("0.5", Purpose.EXIT, spot_side=Side.SELL, ts_ns=now), account(positions=held), market, now)
    assert d.outcome is Outcome.APPROVE and d.risk_reducing
