"""G7 at firm scope, the pure check: numbers first, then the invariant a reservation protocol built on it keeps."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.decisions import DenyCode, RuleId
from bot.domain import Order, OrderType, Purpose, Side
from bot.firm.limits import FirmShare, FirmTotals, firm_check, share_of
from bot.governor.rules_config import FirmConfig
from tests.helpers import BTC_PERP, BTC_SPOT, FUZZ_EXAMPLES, INSTRUMENTS

CFG = FirmConfig()  # 400k gross and 50k net per asset, 1M gross and 100k net in all, 20k daily loss, 240 orders/min


def _share(asset: str, gross: float, net: float = 0.0, orders: int = 2) -> FirmShare:
    return FirmShare({asset: gross}, {asset: net}, orders)


def test_an_entry_that_would_take_an_asset_past_its_gross_cap_is_refused_with_the_numbers() -> None:
    totals = FirmTotals({"BTC": 350_000.0}, {"BTC": 0.0})
    hit = firm_check(totals, _share("BTC", 60_000.0), CFG)
    assert hit is not None and hit.rule is RuleId.G7 and hit.code is DenyCode.FIRM_GROSS_ASSET
    assert hit.max_scale == 0.0
    assert dict(hit.inputs) == {
        "scope": "firm",
        "asset": "BTC",
        "gross_usd": 350_000.0,
        "added_usd": 60_000.0,
        "cap_usd": 400_000.0,
    }
    assert firm_check(totals, _share("BTC", 50_000.0), CFG) is None  # exactly at the cap fits
    assert firm_check(totals, _share("ETH", 60_000.0), CFG) is None  # another asset has its own cap


def test_net_caps_bind_only_a_share_that_moves_the_net_away_from_zero() -> None:
    totals = FirmTotals({"BTC": 100_000.0}, {"BTC": 45_000.0})
    hit = firm_check(totals, _share("BTC", 10_000.0, net=10_000.0), CFG)
    assert hit is not None and hit.code is DenyCode.FIRM_NET_ASSET and hit.inputs["net_after_usd"] == 55_000.0
    assert firm_check(totals, _share("BTC", 10_000.0, net=-10_000.0), CFG) is None


def test_per_asset_caps_replace_the_default() -> None:
    cfg = FirmConfig.model_validate({"assets": {"BTC": {"max_gross_usd": 600_000, "max_net_usd": 60_000}}})
    totals = FirmTotals({"BTC": 450_000.0, "ETH": 350_000.0}, {})
    assert firm_check(totals, _share("BTC", 100_000.0), cfg) is None
    hit = firm_check(totals, _share("ETH", 100_000.0), cfg)
    assert hit is not None and hit.code is DenyCode.FIRM_GROSS_ASSET and hit.inputs["cap_usd"] == 400_000.0


def test_the_total_caps_sum_every_asset() -> None:
    cfg = FirmConfig(max_gross_asset_usd=800_000, max_net_asset_usd=80_000)
    totals = FirmTotals({"BTC": 500_000.0, "ETH": 450_000.0}, {"BTC": 60_000.0, "ETH": 30_000.0})
    hit = firm_check(totals, _share("ETH", 60_000.0), cfg)
    assert hit is not None and hit.code is DenyCode.FIRM_GROSS_TOTAL and hit.inputs["gross_usd"] == 950_000.0
    hit = firm_check(FirmTotals({"BTC": 1.0}, {"BTC": 45_000.0, "ETH": 45_000.0}), _share("ETH", 20_000.0, 20_000), cfg)
    assert hit is not None and hit.code is DenyCode.FIRM_NET_TOTAL


def test_the_days_losses_and_the_order_rate_stop_entries() -> None:
    hit = firm_check(FirmTotals(daily_loss_usd=20_000.0), _share("BTC", 1_000.0), CFG)
    assert hit is not None and hit.code is DenyCode.FIRM_DAILY_LOSS
    assert firm_check(FirmTotals(daily_loss_usd=19_999.0), _share("BTC", 1_000.0), CFG) is None
    hit = firm_check(FirmTotals(orders_last_minute=239), _share("BTC", 1_000.0, orders=2), CFG)
    assert hit is not None and hit.code is DenyCode.FIRM_ORDER_RATE
    assert firm_check(FirmTotals(orders_last_minute=238), _share("BTC", 1_000.0, orders=2), CFG) is None


def _order(iid: str, side: Side, qty: str, mid: float) -> Order:
    return Order("c", "i", "d", iid, side, Decimal(qty), OrderType.LIMIT, Purpose.ENTRY, 0, ref_mid=mid)


def test_a_hedged_pair_is_gross_on_its_asset_and_flat_net() -> None:
    share = share_of(
        [(_order(BTC_SPOT, Side.BUY, "0.5", 60_000.0), 0.5), (_order(BTC_PERP, Side.SELL, "0.5", 60_000.0), 0.5)],
        INSTRUMENTS,
    )
    assert share.gross_by_asset == {"BTC": 60_000.0} and share.net_by_asset == {"BTC": 0.0} and share.orders == 2


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["BTC", "ETH", "SOL"]), st.floats(1_000, 300_000), st.floats(-1.0, 1.0)),
        max_size=60,
    )
)
def test_reserving_only_what_the_check_allows_never_breaks_a_cap(
    wants: list[tuple[str, float, float]],
) -> None:
    gross: dict[str, float] = {}
    net: dict[str, float] = {}
    for asset, g, lean in wants:
        share = FirmShare({asset: g}, {asset: g * lean}, 2)
        before = FirmTotals(dict(gross), dict(net))
        if firm_check(before, share, CFG) is None:
            gross[asset] = gross.get(asset, 0.0) + g
            net[asset] = net.get(asset, 0.0) + g * lean
            after = FirmTotals(dict(gross), dict(net))
            assert gross[asset] <= CFG.max_gross_asset_usd + 1e-6
            assert after.gross_total <= CFG.max_gross_total_usd + 1e-6
            assert abs(net[asset]) <= CFG.max_net_asset_usd + 1e-6 or abs(net[asset]) < abs(
                before.net_by_asset.get(asset, 0.0)
            )
